// Node-API surface of seqtrain's CUDA kernels (the C API in seqtrain_cuda.h). The TypeScript side
// is packages/backend/src/cuda/cuda-kernels.ts (CudaKernels); the ABI number must match.
#define NAPI_VERSION 8
#include <node_api.h>

#include <cstring>
#include <string>

#include "seqtrain_cuda.h"

namespace {

struct JsError {
  std::string message;
};

void ok(napi_env env, napi_status s, const char* what) {
  if (s != napi_ok) throw JsError{std::string("node-api: ") + what};
}

napi_value prop(napi_env env, napi_value obj, const char* name) {
  napi_value v;
  ok(env, napi_get_named_property(env, obj, name, &v), name);
  return v;
}

bool has(napi_env env, napi_value obj, const char* name) {
  bool h = false;
  ok(env, napi_has_named_property(env, obj, name, &h), name);
  if (!h) return false;
  napi_valuetype t;
  ok(env, napi_typeof(env, prop(env, obj, name), &t), name);
  return t != napi_undefined && t != napi_null;
}

double number(napi_env env, napi_value obj, const char* name, double fallback, bool required = true) {
  if (!has(env, obj, name)) {
    if (required) throw JsError{std::string(name) + " is required"};
    return fallback;
  }
  double d;
  if (napi_get_value_double(env, prop(env, obj, name), &d) != napi_ok) throw JsError{std::string(name) + " must be a number"};
  return d;
}

template <typename T>
T* typed(napi_env env, napi_value obj, const char* name, napi_typedarray_type want, size_t length, bool optional) {
  if (!has(env, obj, name)) {
    if (optional) return nullptr;
    throw JsError{std::string(name) + " is required"};
  }
  napi_value v = prop(env, obj, name);
  bool is = false;
  ok(env, napi_is_typedarray(env, v, &is), name);
  if (!is) throw JsError{std::string(name) + " must be a typed array"};
  napi_typedarray_type type;
  size_t n;
  void* data;
  ok(env, napi_get_typedarray_info(env, v, &type, &n, &data, nullptr, nullptr), name);
  if (type != want)
    throw JsError{std::string(name) + (want == napi_float32_array ? " must be a Float32Array" : " must be an Int32Array")};
  if (n != length)
    throw JsError{std::string(name) + " has " + std::to_string(n) + " elements, expected " + std::to_string(length)};
  return static_cast<T*>(data);
}

napi_value floats(napi_env env, size_t n, float** data) {
  napi_value ab, arr;
  void* raw;
  ok(env, napi_create_arraybuffer(env, n * sizeof(float), &raw, &ab), "arraybuffer");
  ok(env, napi_create_typedarray(env, napi_float32_array, n, ab, 0, &arr), "typedarray");
  *data = static_cast<float*>(raw);
  return arr;
}

struct Handle {
  st_trainer* trainer = nullptr;
  st_config config{};
};

void finalize(napi_env, void* data, void*) {
  auto* h = static_cast<Handle*>(data);
  if (h->trainer != nullptr) st_trainer_free(h->trainer);
  delete h;
}

Handle* handleOf(napi_env env, napi_value v) {
  void* data = nullptr;
  if (napi_get_value_external(env, v, &data) != napi_ok || data == nullptr) throw JsError{"not a CUDA trainer"};
  auto* h = static_cast<Handle*>(data);
  if (h->trainer == nullptr) throw JsError{"the CUDA trainer was freed"};
  return h;
}

size_t gates(const st_config& c) { return c.cell == ST_LSTM ? 4 : 3; }

napi_value weightsObject(napi_env env, const st_config& c, st_weights_out* out) {
  const size_t G = gates(c) * c.units;
  napi_value obj;
  ok(env, napi_create_object(env, &obj), "object");
  const struct {
    const char* name;
    size_t n;
    float** slot;
  } fields[] = {{"kernel", static_cast<size_t>(c.inputs) * G, &out->kernel},
                {"recurrentKernel", static_cast<size_t>(c.units) * G, &out->recurrent_kernel},
                {"bias", G, &out->bias},
                {"denseKernel", static_cast<size_t>(c.units) * c.outputs, &out->dense_kernel},
                {"denseBias", static_cast<size_t>(c.outputs), &out->dense_bias}};
  for (const auto& f : fields) ok(env, napi_set_named_property(env, obj, f.name, floats(env, f.n, f.slot)), f.name);
  return obj;
}

struct Batch {
  const float* x;
  const float* y;
  const int* lengths;
};

Batch batchOf(napi_env env, napi_value obj, const st_config& c) {
  Batch b{};
  b.x = typed<float>(env, obj, "x", napi_float32_array, static_cast<size_t>(c.batch) * c.time_steps * c.inputs, false);
  b.y = typed<float>(env, obj, "y", napi_float32_array, static_cast<size_t>(c.batch) * c.outputs, false);
  b.lengths = typed<int>(env, obj, "lengths", napi_int32_array, static_cast<size_t>(c.batch), true);
  return b;
}

template <typename F>
napi_value guarded(napi_env env, F&& f) {
  try {
    return f();
  } catch (const JsError& e) {
    napi_throw_error(env, nullptr, e.message.c_str());
    return nullptr;
  }
}

napi_value args(napi_env env, napi_callback_info info, size_t want, napi_value* argv) {
  size_t argc = want;
  ok(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr), "arguments");
  if (argc < want) throw JsError{"expected " + std::to_string(want) + " arguments"};
  return nullptr;
}

napi_value Probe(napi_env env, napi_callback_info) {
  return guarded(env, [&] {
    char device[256] = {0}, err[512] = {0};
    int major = 0, minor = 0, cudnn = 0, rt = 0, drv = 0;
    size_t mem = 0;
    const int rc = st_probe(device, sizeof device, &major, &minor, &mem, &cudnn, &rt, &drv, err, sizeof err);
    napi_value obj, v;
    ok(env, napi_create_object(env, &obj), "object");
    ok(env, napi_get_boolean(env, rc == 0, &v), "ok");
    ok(env, napi_set_named_property(env, obj, "ok", v), "ok");
    if (rc != 0) {
      ok(env, napi_create_string_utf8(env, err, NAPI_AUTO_LENGTH, &v), "reason");
      ok(env, napi_set_named_property(env, obj, "reason", v), "reason");
      return obj;
    }
    ok(env, napi_create_string_utf8(env, device, NAPI_AUTO_LENGTH, &v), "device");
    ok(env, napi_set_named_property(env, obj, "device", v), "device");
    const std::string cc = std::to_string(major) + "." + std::to_string(minor);
    ok(env, napi_create_string_utf8(env, cc.c_str(), NAPI_AUTO_LENGTH, &v), "cc");
    ok(env, napi_set_named_property(env, obj, "computeCapability", v), "cc");
    const struct {
      const char* name;
      double value;
    } nums[] = {{"memoryBytes", static_cast<double>(mem)},
                {"cudnnVersion", static_cast<double>(cudnn)},
                {"cudaRuntimeVersion", static_cast<double>(rt)},
                {"driverVersion", static_cast<double>(drv)}};
    for (const auto& n : nums) {
      ok(env, napi_create_double(env, n.value, &v), n.name);
      ok(env, napi_set_named_property(env, obj, n.name, v), n.name);
    }
    return obj;
  });
}

napi_value CreateTrainer(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value argv[1];
    args(env, info, 1, argv);
    napi_value a = argv[0];
    st_config c{};
    char cell[16] = {0};
    size_t len = 0;
    if (napi_get_value_string_utf8(env, prop(env, a, "cell"), cell, sizeof cell, &len) != napi_ok)
      throw JsError{"cell must be 'lstm' or 'gru'"};
    if (std::strcmp(cell, "lstm") == 0)
      c.cell = ST_LSTM;
    else if (std::strcmp(cell, "gru") == 0)
      c.cell = ST_GRU;
    else
      throw JsError{std::string("cell must be 'lstm' or 'gru', not '") + cell + "'"};
    c.batch = static_cast<int>(number(env, a, "batch", 0));
    c.time_steps = static_cast<int>(number(env, a, "timeSteps", 0));
    c.inputs = static_cast<int>(number(env, a, "inputs", 0));
    c.units = static_cast<int>(number(env, a, "units", 0));
    c.outputs = static_cast<int>(number(env, a, "outputs", 0));
    c.learning_rate = static_cast<float>(number(env, a, "learningRate", 0));
    c.beta1 = static_cast<float>(number(env, a, "beta1", 0.9, false));
    c.beta2 = static_cast<float>(number(env, a, "beta2", 0.999, false));
    c.epsilon = static_cast<float>(number(env, a, "epsilon", 1e-7, false));
    c.tf32 = 0;
    if (has(env, a, "math")) {
      char math[8] = {0};
      ok(env, napi_get_value_string_utf8(env, prop(env, a, "math"), math, sizeof math, &len), "math");
      if (std::strcmp(math, "tf32") == 0)
        c.tf32 = 1;
      else if (std::strcmp(math, "fp32") != 0)
        throw JsError{"math must be 'fp32' or 'tf32'"};
    }
    if (c.batch < 1 || c.time_steps < 1 || c.inputs < 1 || c.units < 1 || c.outputs < 1)
      throw JsError{"batch, timeSteps, inputs, units and outputs must be positive integers"};
    napi_value w = prop(env, a, "weights");
    const size_t G = gates(c) * c.units;
    st_weights_in in{};
    in.kernel = typed<float>(env, w, "kernel", napi_float32_array, static_cast<size_t>(c.inputs) * G, false);
    in.recurrent_kernel = typed<float>(env, w, "recurrentKernel", napi_float32_array, static_cast<size_t>(c.units) * G, false);
    in.bias = typed<float>(env, w, "bias", napi_float32_array, G, true);
    in.dense_kernel = typed<float>(env, w, "denseKernel", napi_float32_array, static_cast<size_t>(c.units) * c.outputs, false);
    in.dense_bias = typed<float>(env, w, "denseBias", napi_float32_array, static_cast<size_t>(c.outputs), false);
    auto* h = new Handle();
    h->config = c;
    char err[1024] = {0};
    if (st_trainer_create(&c, in, &h->trainer, err, sizeof err) != 0) {
      delete h;
      throw JsError{std::string("CUDA trainer: ") + err};
    }
    napi_value ext;
    ok(env, napi_create_external(env, h, finalize, nullptr, &ext), "external");
    return ext;
  });
}

napi_value TrainerStep(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value argv[3] = {nullptr, nullptr, nullptr};
    size_t argc = 3;
    ok(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr), "arguments");
    if (argc < 2) throw JsError{"trainerStep(trainer, batch, steps?)"};
    Handle* h = handleOf(env, argv[0]);
    const Batch b = batchOf(env, argv[1], h->config);
    int steps = 1;
    if (argc >= 3) {
      napi_valuetype t;
      ok(env, napi_typeof(env, argv[2], &t), "steps");
      if (t == napi_number) {
        ok(env, napi_get_value_int32(env, argv[2], &steps), "steps");
      }
    }
    float loss = 0.0f;
    char err[1024] = {0};
    if (st_trainer_run(h->trainer, b.x, b.y, b.lengths, steps, 1, &loss, err, sizeof err) != 0)
      throw JsError{std::string("CUDA trainer step: ") + err};
    napi_value v;
    ok(env, napi_create_double(env, loss, &v), "loss");
    return v;
  });
}

napi_value TrainerGradients(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value argv[2];
    args(env, info, 2, argv);
    Handle* h = handleOf(env, argv[0]);
    const Batch b = batchOf(env, argv[1], h->config);
    float loss = 0.0f;
    char err[1024] = {0};
    if (st_trainer_run(h->trainer, b.x, b.y, b.lengths, 1, 0, &loss, err, sizeof err) != 0)
      throw JsError{std::string("CUDA trainer gradients: ") + err};
    st_weights_out out{};
    napi_value grads = weightsObject(env, h->config, &out);
    float* hLast = nullptr;
    napi_value hArr = floats(env, static_cast<size_t>(h->config.batch) * h->config.units, &hLast);
    if (st_trainer_read(h->trainer, 1, out, hLast, err, sizeof err) != 0)
      throw JsError{std::string("CUDA trainer read: ") + err};
    napi_value obj, v;
    ok(env, napi_create_object(env, &obj), "object");
    ok(env, napi_create_double(env, loss, &v), "loss");
    ok(env, napi_set_named_property(env, obj, "loss", v), "loss");
    ok(env, napi_set_named_property(env, obj, "grads", grads), "grads");
    ok(env, napi_set_named_property(env, obj, "hLast", hArr), "hLast");
    return obj;
  });
}

napi_value TrainerWeights(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value argv[1];
    args(env, info, 1, argv);
    Handle* h = handleOf(env, argv[0]);
    st_weights_out out{};
    napi_value obj = weightsObject(env, h->config, &out);
    char err[1024] = {0};
    if (st_trainer_read(h->trainer, 0, out, nullptr, err, sizeof err) != 0)
      throw JsError{std::string("CUDA trainer read: ") + err};
    return obj;
  });
}

napi_value TrainerFree(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value argv[1];
    args(env, info, 1, argv);
    void* data = nullptr;
    if (napi_get_value_external(env, argv[0], &data) != napi_ok || data == nullptr) throw JsError{"not a CUDA trainer"};
    auto* h = static_cast<Handle*>(data);
    if (h->trainer != nullptr) st_trainer_free(h->trainer);
    h->trainer = nullptr;
    napi_value u;
    napi_get_undefined(env, &u);
    return u;
  });
}

napi_value Init(napi_env env, napi_value exports) {
  napi_value abi;
  napi_create_int32(env, ST_CUDA_ABI, &abi);
  napi_set_named_property(env, exports, "abiVersion", abi);
  const napi_property_descriptor props[] = {
      {"probe", nullptr, Probe, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"createTrainer", nullptr, CreateTrainer, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"trainerStep", nullptr, TrainerStep, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"trainerGradients", nullptr, TrainerGradients, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"trainerWeights", nullptr, TrainerWeights, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"trainerFree", nullptr, TrainerFree, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
