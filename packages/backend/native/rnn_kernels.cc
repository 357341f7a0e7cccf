// seqtrain's own LSTM sequence kernels for the native backend (a Node-API addon).
//
// TensorFlow's BlockLSTM kernels compute every product step by step, and accumulate the weight
// gradient with one small matrix product per step. Here everything that does not depend on the
// recurrence is hoisted into one large product per sequence (the input projection x @ kernel, the
// weight gradients [x; h]^T @ dGates and the input gradient dGates @ kernel^T); only h @ recurrent
// and dGates @ recurrent^T stay in the time loop, with the gate math fused around them. With more
// than one thread the batch is split into slices that run their own recurrence without any
// synchronisation; the slices' weight gradients are summed in slice order (deterministic for a
// given thread count, like TensorFlow's own kernels).
//
// Layouts (all row-major float32, as tfjs stores tensors): x [T, B, I] time-major, kernel [I, 4H],
// recurrent kernel [H, 4H], bias [4H], gates in Keras/tfjs order i, f, c, o; sigmoid gates, tanh
// cell and output activations (what the caller checks before choosing this path).
//
// The forward returns every step's h and c and a tape (an external holding the activations) that
// the backward consumes; the tape is freed by the garbage collector, which is told its size.

#define NAPI_VERSION 8
#include <node_api.h>

#include <Eigen/Dense>

#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowVector = Eigen::Matrix<float, 1, Eigen::Dynamic>;
using ConstMap = Eigen::Map<const Matrix>;
using MutMap = Eigen::Map<Matrix>;

struct Slice {
  int b0 = 0;
  int nb = 0;
  Matrix xs;     // [T * nb, I]
  Matrix gates;  // [T * nb, 4H], activated
  Matrix cs;     // [(T + 1) * nb, H]; the first nb rows are c0
  Matrix hs;     // [(T + 1) * nb, H]; the first nb rows are h0
  Matrix tc;     // [T * nb, H], tanh(c)
  Matrix dGates; // [T * nb, 4H], set by the backward; the input gradient is computed from it on demand
};

struct Tape {
  int T = 0, B = 0, I = 0, H = 0;
  bool hasBias = false;
  Matrix kernel;     // [I, 4H]
  Matrix recurrent;  // [H, 4H]
  std::vector<Slice> slices;
  size_t bytes = 0;
};

class JsError {
 public:
  explicit JsError(std::string m) : message(std::move(m)) {}
  std::string message;
};

void check(napi_env env, napi_status status, const char* what) {
  if (status == napi_ok) return;
  const napi_extended_error_info* info = nullptr;
  napi_get_last_error_info(env, &info);
  throw JsError(std::string(what) + ": " + (info && info->error_message ? info->error_message : "N-API error"));
}

napi_value prop(napi_env env, napi_value obj, const char* name) {
  napi_value v;
  check(env, napi_get_named_property(env, obj, name, &v), name);
  return v;
}

bool isNullish(napi_env env, napi_value v) {
  napi_valuetype t;
  check(env, napi_typeof(env, v, &t), "typeof");
  return t == napi_null || t == napi_undefined;
}

int intProp(napi_env env, napi_value obj, const char* name, int min) {
  napi_value v = prop(env, obj, name);
  napi_valuetype t;
  check(env, napi_typeof(env, v, &t), name);
  if (t != napi_number) throw JsError(std::string(name) + " must be a number");
  double d;
  check(env, napi_get_value_double(env, v, &d), name);
  if (d != static_cast<int>(d) || d < min) {
    throw JsError(std::string(name) + " must be an integer >= " + std::to_string(min) + ", got " + std::to_string(d));
  }
  return static_cast<int>(d);
}

struct FloatView {
  const float* data = nullptr;
  size_t length = 0;
};

// A Float32Array property; null/undefined gives an empty view when allowed.
FloatView floatsProp(napi_env env, napi_value obj, const char* name, bool optional = false) {
  napi_value v = prop(env, obj, name);
  if (isNullish(env, v)) {
    if (optional) return {};
    throw JsError(std::string(name) + " is required");
  }
  bool isTyped = false;
  check(env, napi_is_typedarray(env, v, &isTyped), name);
  if (!isTyped) throw JsError(std::string(name) + " must be a Float32Array");
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_value buffer;
  size_t offset;
  check(env, napi_get_typedarray_info(env, v, &type, &length, &data, &buffer, &offset), name);
  if (type != napi_float32_array) throw JsError(std::string(name) + " must be a Float32Array");
  return {static_cast<const float*>(data), length};
}

void expectLength(const FloatView& v, size_t want, const char* name) {
  if (v.length != want) {
    throw JsError(std::string(name) + " has " + std::to_string(v.length) + " values, expected " + std::to_string(want));
  }
}

// A new Float32Array of n values; *out points at its storage.
napi_value newFloats(napi_env env, size_t n, float** out) {
  void* data;
  napi_value buffer, array;
  check(env, napi_create_arraybuffer(env, n * sizeof(float), &data, &buffer), "allocate");
  check(env, napi_create_typedarray(env, napi_float32_array, n, buffer, 0, &array), "allocate");
  *out = static_cast<float*>(data);
  return array;
}

void setProp(napi_env env, napi_value obj, const char* name, napi_value v) {
  check(env, napi_set_named_property(env, obj, name, v), name);
}

napi_value nullValue(napi_env env) {
  napi_value v;
  check(env, napi_get_null(env, &v), "null");
  return v;
}

// Runs fn(slice index) on every slice: slice 0 on the calling thread, the others on their own.
template <typename Fn>
void parallelSlices(int count, Fn fn) {
  std::vector<std::thread> workers;
  workers.reserve(count > 0 ? count - 1 : 0);
  for (int s = 1; s < count; ++s) workers.emplace_back(fn, s);
  fn(0);
  for (auto& w : workers) w.join();
}

void forwardSlice(Slice& s, const Tape& tape, const float* x, const float* h0, const float* c0, const float* bias,
                  float* hOut, float* cOut) {
  const int T = tape.T, B = tape.B, I = tape.I, H = tape.H, nb = s.nb;
  s.xs.resize(static_cast<Eigen::Index>(T) * nb, I);
  for (int t = 0; t < T; ++t) {
    std::memcpy(s.xs.data() + static_cast<size_t>(t) * nb * I, x + (static_cast<size_t>(t) * B + s.b0) * I,
                sizeof(float) * nb * I);
  }
  s.cs.resize(static_cast<Eigen::Index>(T + 1) * nb, H);
  s.hs.resize(static_cast<Eigen::Index>(T + 1) * nb, H);
  s.tc.resize(static_cast<Eigen::Index>(T) * nb, H);
  std::memcpy(s.hs.data(), h0 + static_cast<size_t>(s.b0) * H, sizeof(float) * nb * H);
  std::memcpy(s.cs.data(), c0 + static_cast<size_t>(s.b0) * H, sizeof(float) * nb * H);
  s.gates.noalias() = s.xs * tape.kernel;
  if (bias != nullptr) s.gates.rowwise() += Eigen::Map<const RowVector>(bias, 4 * H);
  for (int t = 0; t < T; ++t) {
    auto g = s.gates.middleRows(static_cast<Eigen::Index>(t) * nb, nb);
    g.noalias() += s.hs.middleRows(static_cast<Eigen::Index>(t) * nb, nb) * tape.recurrent;
    auto a = g.array();
    a.leftCols(2 * H) = a.leftCols(2 * H).logistic();
    a.middleCols(2 * H, H) = a.middleCols(2 * H, H).tanh();
    a.rightCols(H) = a.rightCols(H).logistic();
    auto cNext = s.cs.middleRows(static_cast<Eigen::Index>(t + 1) * nb, nb).array();
    cNext = a.middleCols(H, H) * s.cs.middleRows(static_cast<Eigen::Index>(t) * nb, nb).array() +
            a.leftCols(H) * a.middleCols(2 * H, H);
    auto tc = s.tc.middleRows(static_cast<Eigen::Index>(t) * nb, nb).array();
    tc = cNext.tanh();
    s.hs.middleRows(static_cast<Eigen::Index>(t + 1) * nb, nb).array() = a.rightCols(H) * tc;
    const size_t row = (static_cast<size_t>(t) * B + s.b0) * H;
    std::memcpy(hOut + row, s.hs.data() + static_cast<size_t>(t + 1) * nb * H, sizeof(float) * nb * H);
    std::memcpy(cOut + row, s.cs.data() + static_cast<size_t>(t + 1) * nb * H, sizeof(float) * nb * H);
  }
}

void finalizeTape(napi_env env, void* data, void*) {
  auto* tape = static_cast<Tape*>(data);
  int64_t adjusted;
  napi_adjust_external_memory(env, -static_cast<int64_t>(tape->bytes), &adjusted);
  delete tape;
}

// lstmForward({ x, h0, c0, kernel, recurrentKernel, bias, timeSteps, batch, inputs, units, threads })
//   -> { h: [T, B, H], c: [T, B, H], tape }
napi_value LstmForward(napi_env env, napi_callback_info info) {
  try {
    size_t argc = 1;
    napi_value args;
    check(env, napi_get_cb_info(env, info, &argc, &args, nullptr, nullptr), "arguments");
    if (argc < 1) throw JsError("lstmForward takes one options object");
    auto tape = std::make_unique<Tape>();
    const int T = tape->T = intProp(env, args, "timeSteps", 1);
    const int B = tape->B = intProp(env, args, "batch", 1);
    const int I = tape->I = intProp(env, args, "inputs", 0);
    const int H = tape->H = intProp(env, args, "units", 1);
    const int threads = intProp(env, args, "threads", 1);
    FloatView x = floatsProp(env, args, "x"), h0 = floatsProp(env, args, "h0"), c0 = floatsProp(env, args, "c0");
    FloatView kernel = floatsProp(env, args, "kernel"), recurrent = floatsProp(env, args, "recurrentKernel");
    FloatView bias = floatsProp(env, args, "bias", true);
    expectLength(x, static_cast<size_t>(T) * B * I, "x");
    expectLength(h0, static_cast<size_t>(B) * H, "h0");
    expectLength(c0, static_cast<size_t>(B) * H, "c0");
    expectLength(kernel, static_cast<size_t>(I) * 4 * H, "kernel");
    expectLength(recurrent, static_cast<size_t>(H) * 4 * H, "recurrentKernel");
    tape->hasBias = bias.data != nullptr;
    if (tape->hasBias) expectLength(bias, static_cast<size_t>(4) * H, "bias");
    tape->kernel = ConstMap(kernel.data, I, 4 * H);
    tape->recurrent = ConstMap(recurrent.data, H, 4 * H);

    // Slices of at least 8 rows: smaller ones lose more to thin products than a thread gains.
    const int count = std::max(1, std::min(threads, B / 8));
    tape->slices.resize(count);
    for (int s = 0; s < count; ++s) {
      tape->slices[s].b0 = B * s / count;
      tape->slices[s].nb = B * (s + 1) / count - tape->slices[s].b0;
    }
    float *hOut, *cOut;
    napi_value result, hArr = newFloats(env, static_cast<size_t>(T) * B * H, &hOut),
                       cArr = newFloats(env, static_cast<size_t>(T) * B * H, &cOut);
    Tape& tp = *tape;
    parallelSlices(count, [&](int s) {
      forwardSlice(tp.slices[s], tp, x.data, h0.data, c0.data, tp.hasBias ? bias.data : nullptr, hOut, cOut);
    });
    tape->bytes = sizeof(float) * (static_cast<size_t>(T) * B * (I + 4 * H + 3 * H) + 2 * static_cast<size_t>(B) * H +
                                   static_cast<size_t>(I + H) * 4 * H);
    int64_t adjusted;
    napi_adjust_external_memory(env, static_cast<int64_t>(tape->bytes), &adjusted);
    napi_value external;
    Tape* raw = tape.release();
    if (napi_create_external(env, raw, finalizeTape, nullptr, &external) != napi_ok) {
      finalizeTape(env, raw, nullptr);
      throw JsError("cannot create the tape");
    }
    check(env, napi_create_object(env, &result), "result");
    setProp(env, result, "h", hArr);
    setProp(env, result, "c", cArr);
    setProp(env, result, "tape", external);
    return result;
  } catch (const JsError& e) {
    napi_throw_error(env, "ERR_SEQTRAIN_RNN_KERNEL", e.message.c_str());
    return nullptr;
  } catch (const std::exception& e) {
    napi_throw_error(env, "ERR_SEQTRAIN_RNN_KERNEL", e.what());
    return nullptr;
  }
}

struct Grads {
  Matrix dKernel, dRecurrent;
  RowVector dBias;
};

// Output gradients: dh/dc are either every step's ([T, B, H]), the last step's ([B, H]) or absent.
struct OutGrad {
  FloatView all, last;
};

OutGrad outGrad(const FloatView& v, const Tape& tape, const char* name) {
  const size_t step = static_cast<size_t>(tape.B) * tape.H;
  if (v.data == nullptr) return {};
  if (v.length == step * tape.T) return {v, {}};
  if (v.length == step) return {{}, v};
  throw JsError(std::string(name) + " has " + std::to_string(v.length) + " values, expected " +
                std::to_string(step * tape.T) + " (every step) or " + std::to_string(step) + " (last step)");
}

void backwardSlice(Slice& s, const Tape& tape, const OutGrad& dh, const OutGrad& dc, float* dh0, float* dc0,
                   Grads& g) {
  const int T = tape.T, B = tape.B, H = tape.H, nb = s.nb;
  Matrix& dGates = s.dGates;
  dGates.resize(static_cast<Eigen::Index>(T) * nb, 4 * H);
  Matrix dhNext = Matrix::Zero(nb, H), dcNext = Matrix::Zero(nb, H);
  auto addRows = [&](Matrix& m, const FloatView& v, size_t row) {
    if (v.data != nullptr) m += ConstMap(v.data + row * H, nb, H);
  };
  for (int t = T - 1; t >= 0; --t) {
    const size_t row = static_cast<size_t>(t) * B + s.b0;
    addRows(dhNext, dh.all, row);
    addRows(dcNext, dc.all, row);
    if (t == T - 1) {
      addRows(dhNext, dh.last, s.b0);
      addRows(dcNext, dc.last, s.b0);
    }
    const Eigen::Index r = static_cast<Eigen::Index>(t) * nb;
    auto a = s.gates.middleRows(r, nb).array();
    auto i = a.leftCols(H), f = a.middleCols(H, H), c = a.middleCols(2 * H, H), o = a.rightCols(H);
    auto tc = s.tc.middleRows(r, nb).array();
    auto d = dGates.middleRows(r, nb).array();
    const auto dhA = dhNext.array();
    Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> dct =
        dcNext.array() + dhA * o * (1.0f - tc.square());
    d.rightCols(H) = dhA * tc * o * (1.0f - o);
    d.leftCols(H) = dct * c * i * (1.0f - i);
    d.middleCols(H, H) = dct * s.cs.middleRows(r, nb).array() * f * (1.0f - f);
    d.middleCols(2 * H, H) = dct * i * (1.0f - c.square());
    dcNext.array() = dct * f;
    dhNext.noalias() = dGates.middleRows(r, nb) * tape.recurrent.transpose();
  }
  std::memcpy(dh0 + static_cast<size_t>(s.b0) * H, dhNext.data(), sizeof(float) * nb * H);
  std::memcpy(dc0 + static_cast<size_t>(s.b0) * H, dcNext.data(), sizeof(float) * nb * H);
  g.dKernel.noalias() = s.xs.transpose() * dGates;
  g.dRecurrent.noalias() = s.hs.topRows(static_cast<Eigen::Index>(T) * nb).transpose() * dGates;
  if (tape.hasBias) g.dBias = dGates.colwise().sum();
}

void inputGradSlice(const Slice& s, const Tape& tape, float* dx) {
  const int T = tape.T, B = tape.B, I = tape.I, nb = s.nb;
  if (I == 0) return;
  const Matrix dxs = s.dGates * tape.kernel.transpose();
  for (int t = 0; t < T; ++t) {
    std::memcpy(dx + (static_cast<size_t>(t) * B + s.b0) * I, dxs.data() + static_cast<size_t>(t) * nb * I,
                sizeof(float) * nb * I);
  }
}

Tape& tapeProp(napi_env env, napi_value args) {
  void* raw;
  if (napi_get_value_external(env, prop(env, args, "tape"), &raw) != napi_ok) {
    throw JsError("tape must be the tape an lstmForward call returned");
  }
  return *static_cast<Tape*>(raw);
}

// lstmBackward({ tape, dh, dc }) -> { dh0, dc0, dKernel, dRecurrentKernel, dBias | null }
napi_value LstmBackward(napi_env env, napi_callback_info info) {
  try {
    size_t argc = 1;
    napi_value args;
    check(env, napi_get_cb_info(env, info, &argc, &args, nullptr, nullptr), "arguments");
    if (argc < 1) throw JsError("lstmBackward takes one options object");
    Tape& tape = tapeProp(env, args);
    const OutGrad dh = outGrad(floatsProp(env, args, "dh", true), tape, "dh");
    const OutGrad dc = outGrad(floatsProp(env, args, "dc", true), tape, "dc");
    const int T = tape.T, B = tape.B, I = tape.I, H = tape.H;
    float *dh0, *dc0, *dKernel, *dRecurrent, *dBias = nullptr;
    napi_value result, dBiasArr = nullValue(env);
    napi_value dh0Arr = newFloats(env, static_cast<size_t>(B) * H, &dh0);
    napi_value dc0Arr = newFloats(env, static_cast<size_t>(B) * H, &dc0);
    napi_value dKernelArr = newFloats(env, static_cast<size_t>(I) * 4 * H, &dKernel);
    napi_value dRecurrentArr = newFloats(env, static_cast<size_t>(H) * 4 * H, &dRecurrent);
    if (tape.hasBias) dBiasArr = newFloats(env, static_cast<size_t>(4) * H, &dBias);

    const int count = static_cast<int>(tape.slices.size());
    if (tape.slices[0].dGates.rows() == 0) {
      // The gate gradients stay on the tape for lstmInputGrad; the collector is told about them.
      const size_t extra = sizeof(float) * static_cast<size_t>(T) * B * 4 * H;
      tape.bytes += extra;
      int64_t adjusted;
      napi_adjust_external_memory(env, static_cast<int64_t>(extra), &adjusted);
    }
    std::vector<Grads> grads(count);
    parallelSlices(count, [&](int s) { backwardSlice(tape.slices[s], tape, dh, dc, dh0, dc0, grads[s]); });
    // Slice partials summed in slice order.
    MutMap dk(dKernel, I, 4 * H), dr(dRecurrent, H, 4 * H);
    dk = grads[0].dKernel;
    dr = grads[0].dRecurrent;
    for (int s = 1; s < count; ++s) {
      dk += grads[s].dKernel;
      dr += grads[s].dRecurrent;
    }
    if (dBias != nullptr) {
      Eigen::Map<RowVector> db(dBias, 4 * H);
      db = grads[0].dBias;
      for (int s = 1; s < count; ++s) db += grads[s].dBias;
    }
    check(env, napi_create_object(env, &result), "result");
    setProp(env, result, "dh0", dh0Arr);
    setProp(env, result, "dc0", dc0Arr);
    setProp(env, result, "dKernel", dKernelArr);
    setProp(env, result, "dRecurrentKernel", dRecurrentArr);
    setProp(env, result, "dBias", dBiasArr);
    return result;
  } catch (const JsError& e) {
    napi_throw_error(env, "ERR_SEQTRAIN_RNN_KERNEL", e.message.c_str());
    return nullptr;
  } catch (const std::exception& e) {
    napi_throw_error(env, "ERR_SEQTRAIN_RNN_KERNEL", e.what());
    return nullptr;
  }
}

// lstmInputGrad({ tape }) -> dx [T, B, I], after lstmBackward on the same tape. Separate because the
// input of a first layer is data: its gradient is usually never asked for.
napi_value LstmInputGrad(napi_env env, napi_callback_info info) {
  try {
    size_t argc = 1;
    napi_value args;
    check(env, napi_get_cb_info(env, info, &argc, &args, nullptr, nullptr), "arguments");
    if (argc < 1) throw JsError("lstmInputGrad takes one options object");
    const Tape& tape = tapeProp(env, args);
    for (const Slice& s : tape.slices) {
      if (s.dGates.rows() == 0) throw JsError("lstmInputGrad needs lstmBackward to run on this tape first");
    }
    float* dx;
    napi_value dxArr = newFloats(env, static_cast<size_t>(tape.T) * tape.B * tape.I, &dx);
    parallelSlices(static_cast<int>(tape.slices.size()), [&](int s) { inputGradSlice(tape.slices[s], tape, dx); });
    return dxArr;
  } catch (const JsError& e) {
    napi_throw_error(env, "ERR_SEQTRAIN_RNN_KERNEL", e.message.c_str());
    return nullptr;
  } catch (const std::exception& e) {
    napi_throw_error(env, "ERR_SEQTRAIN_RNN_KERNEL", e.what());
    return nullptr;
  }
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"lstmForward", nullptr, LstmForward, nullptr, nullptr, nullptr, napi_default_jsproperty, nullptr},
      {"lstmBackward", nullptr, LstmBackward, nullptr, nullptr, nullptr, napi_default_jsproperty, nullptr},
      {"lstmInputGrad", nullptr, LstmInputGrad, nullptr, nullptr, nullptr, napi_default_jsproperty, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  napi_value version;
  napi_create_uint32(env, 1, &version);
  napi_set_named_property(env, exports, "abiVersion", version);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
