// seqtrain's own LSTM, GRU and SimpleRNN sequence kernels for the native backend (a Node-API addon).
//
// TensorFlow's BlockLSTM kernels compute every product step by step, and accumulate the weight
// gradient with one small matrix product per step. Here everything that does not depend on the
// recurrence is hoisted into one large product per sequence (the input projection x @ kernel, the
// weight gradients [x; h]^T @ dGates and the input gradient dGates @ kernel^T); only h @ recurrent
// and dGates @ recurrent^T stay in the time loop, with the gate math fused around them. With more
// than one thread the batch slices (see kSliceRows) run their own recurrence in parallel without any
// synchronisation; the slices' weight gradients are summed in slice order. Slices are cut by batch
// size alone, so the results are the same bytes whatever the thread count.
//
// Layouts (all row-major float32, as tfjs stores tensors): x [T, B, I] time-major, kernel [I, 4H],
// recurrent kernel [H, 4H], bias [4H], gates in Keras/tfjs order i, f, c, o; sigmoid gates, tanh
// cell and output activations (what the caller checks before choosing this path).
//
// The forward returns every step's h (and c) and, when gradients will be asked for, a tape (an
// external holding the activations) that the backward consumes. Memory is freed as soon as it is no
// longer needed: the activations when the backward is done, the gate gradients when the input
// gradient is taken; the garbage collector (told the size) frees whatever a tape still holds.

#define NAPI_VERSION 8
#include <node_api.h>

// The Eigen of TensorFlow 2.21 does not compile its AVX512-FP16 packet math with g++ 12
// (predux_half_dowto4 undeclared), which -march=native turns on for CPUs with AVX512-FP16
// (Sapphire Rapids and later). These kernels are float32 only: keep Eigen off that path.
#ifdef __AVX512FP16__
#undef __AVX512FP16__
#endif
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

enum class Cell { Lstm, Gru, Simple };

struct Slice {
  int b0 = 0;
  int nb = 0;
  Matrix xs;      // [T * nb, I]
  Matrix gates;   // [T * nb, G], activated: LSTM i, f, c, o (G = 4H); GRU z, r, hh (G = 3H); SimpleRNN h (G = H)
  Matrix hs;      // [(T + 1) * nb, H]; the first nb rows are h0
  Matrix cs;      // LSTM: [(T + 1) * nb, H]; the first nb rows are c0
  Matrix tc;      // LSTM: [T * nb, H], tanh(c)
  Matrix rh;      // GRU: [T * nb, H], r * h_prev
  Matrix rmask;   // recurrent dropout: [nb, H], the mask on h_prev (empty without)
  Matrix hm;      // recurrent dropout: [T * nb, H], h_prev * mask
  Matrix dGates;  // [T * nb, G], pre-activation; set by the backward, the input gradient uses it
};

constexpr int kSliceRows = 16;

// What a tape still holds: everything after the forward, only the gate gradients after the
// backward (the input gradient needs nothing else), nothing once the input gradient is taken.
enum class Stage { Forward, Backward, Done };

struct Tape {
  Cell cell = Cell::Lstm;
  Stage stage = Stage::Forward;
  int threads = 1;
  int T = 0, B = 0, I = 0, H = 0, G = 0;
  bool hasBias = false;
  // The forward returns only the last step's h (and c) ([B, H]) instead of every step's ([T, B, H]):
  // a many-to-one layer needs no more, and each [T, B, H] array is garbage the collector must chase.
  bool lastOnly = false;
  Matrix kernel;     // [I, G]
  Matrix recurrent;  // [H, G]
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

// Runs fn(slice index) on every slice, on up to `threads` threads (the calling thread is one of
// them); thread w takes slices w, w + threads, ...
template <typename Fn>
void parallelSlices(int count, int threads, Fn fn) {
  const int workers = std::max(1, std::min(threads, count));
  auto run = [&](int w) {
    for (int s = w; s < count; s += workers) fn(s);
  };
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  for (int w = 1; w < workers; ++w) pool.emplace_back(run, w);
  run(0);
  for (auto& t : pool) t.join();
}

using Array = Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

Eigen::Index rows(int t, int nb) { return static_cast<Eigen::Index>(t) * nb; }

bool masked(const Slice& s) { return s.rmask.size() > 0; }

// The previous state the recurrent products see at step t: h_prev, or h_prev * mask with recurrent
// dropout (tfjs-layers drops the same units of h_prev at every step of a sequence).
auto prevState(Slice& s, int t) {
  const Eigen::Index r = rows(t, s.nb);
  if (!masked(s)) return s.hs.middleRows(r, s.nb);
  s.hm.middleRows(r, s.nb).array() = s.hs.middleRows(r, s.nb).array() * s.rmask.array();
  return s.hm.middleRows(r, s.nb);
}

// The same, read back in the backward (nothing recomputed).
auto savedPrevState(const Slice& s, int t) {
  const Eigen::Index r = rows(t, s.nb);
  return (masked(s) ? s.hm : s.hs).middleRows(r, s.nb);
}

// Copies this slice's rows of a [T, B, width] time-major array into a [T * nb, width] matrix.
void gatherRows(Matrix& out, const float* src, int T, int B, int b0, int nb, int width) {
  out.resize(rows(T, nb), width);
  for (int t = 0; t < T; ++t) {
    std::memcpy(out.data() + static_cast<size_t>(t) * nb * width, src + (static_cast<size_t>(t) * B + b0) * width,
                sizeof(float) * nb * width);
  }
}

// Copies one step's [nb, width] rows into a [T, B, width] time-major array.
void scatterStep(float* dst, const float* rowsData, int t, int B, int b0, int nb, int width) {
  std::memcpy(dst + (static_cast<size_t>(t) * B + b0) * width, rowsData, sizeof(float) * nb * width);
}

// Copies step t of a slice's states into the forward's output: every step, or the last one only.
void outputStep(const Tape& tape, float* dst, const Matrix& states, int t, const Slice& s) {
  if (tape.lastOnly && t != tape.T - 1) return;
  scatterStep(dst, states.data() + static_cast<size_t>(t + 1) * s.nb * tape.H, tape.lastOnly ? 0 : t, tape.B, s.b0,
              s.nb, tape.H);
}

// LSTM: gates = x W + h U + b (i, f, c, o); c' = f c + i g; h' = o tanh(c').
void lstmForwardLoop(Slice& s, const Tape& tape, float* hOut, float* cOut) {
  const int T = tape.T, H = tape.H, nb = s.nb;
  s.tc.resize(rows(T, nb), H);
  for (int t = 0; t < T; ++t) {
    auto g = s.gates.middleRows(rows(t, nb), nb);
    g.noalias() += prevState(s, t) * tape.recurrent;
    auto a = g.array();
    a.leftCols(2 * H) = a.leftCols(2 * H).logistic();
    a.middleCols(2 * H, H) = a.middleCols(2 * H, H).tanh();
    a.rightCols(H) = a.rightCols(H).logistic();
    auto cNext = s.cs.middleRows(rows(t + 1, nb), nb).array();
    cNext = a.middleCols(H, H) * s.cs.middleRows(rows(t, nb), nb).array() + a.leftCols(H) * a.middleCols(2 * H, H);
    auto tc = s.tc.middleRows(rows(t, nb), nb).array();
    tc = cNext.tanh();
    s.hs.middleRows(rows(t + 1, nb), nb).array() = a.rightCols(H) * tc;
    outputStep(tape, hOut, s.hs, t, s);
    outputStep(tape, cOut, s.cs, t, s);
  }
}

// GRU as tfjs-layers (reset before the product): z = s(xz + h Uz), r = s(xr + h Ur),
// hh = tanh(xh + (r h) Uh), h' = z h + (1 - z) hh.
void gruForwardLoop(Slice& s, const Tape& tape, float* hOut) {
  const int T = tape.T, H = tape.H, nb = s.nb;
  s.rh.resize(rows(T, nb), H);
  const auto uzr = tape.recurrent.leftCols(2 * H);
  const auto uh = tape.recurrent.rightCols(H);
  for (int t = 0; t < T; ++t) {
    auto g = s.gates.middleRows(rows(t, nb), nb);
    // With recurrent dropout tfjs-layers' GRU uses the masked h_prev everywhere, z * h_prev too.
    const auto hp = prevState(s, t);
    g.leftCols(2 * H).noalias() += hp * uzr;
    g.leftCols(2 * H).array() = g.leftCols(2 * H).array().logistic();
    auto rh = s.rh.middleRows(rows(t, nb), nb);
    rh.array() = g.middleCols(H, H).array() * hp.array();
    g.rightCols(H).noalias() += rh * uh;
    g.rightCols(H).array() = g.rightCols(H).array().tanh();
    const auto z = g.leftCols(H).array();
    s.hs.middleRows(rows(t + 1, nb), nb).array() = z * hp.array() + (1.0f - z) * g.rightCols(H).array();
    outputStep(tape, hOut, s.hs, t, s);
  }
}

// SimpleRNN (tanh): h' = tanh(x W + h U + b).
void simpleForwardLoop(Slice& s, const Tape& tape, float* hOut) {
  const int T = tape.T, nb = s.nb;
  for (int t = 0; t < T; ++t) {
    auto g = s.gates.middleRows(rows(t, nb), nb);
    g.noalias() += prevState(s, t) * tape.recurrent;
    g.array() = g.array().tanh();
    s.hs.middleRows(rows(t + 1, nb), nb) = g;
    outputStep(tape, hOut, s.hs, t, s);
  }
}

void forwardSlice(Slice& s, const Tape& tape, const float* x, const float* h0, const float* c0, const float* bias,
                  const float* rmask, float* hOut, float* cOut) {
  const int T = tape.T, B = tape.B, I = tape.I, H = tape.H, nb = s.nb;
  gatherRows(s.xs, x, T, B, s.b0, nb, I);
  if (rmask != nullptr) {
    s.rmask = ConstMap(rmask + static_cast<size_t>(s.b0) * H, nb, H);
    s.hm.resize(rows(T, nb), H);
  }
  s.hs.resize(rows(T + 1, nb), H);
  std::memcpy(s.hs.data(), h0 + static_cast<size_t>(s.b0) * H, sizeof(float) * nb * H);
  // The input projection of every step in one product.
  s.gates.noalias() = s.xs * tape.kernel;
  if (bias != nullptr) s.gates.rowwise() += Eigen::Map<const RowVector>(bias, tape.G);
  if (tape.cell == Cell::Lstm) {
    s.cs.resize(rows(T + 1, nb), H);
    std::memcpy(s.cs.data(), c0 + static_cast<size_t>(s.b0) * H, sizeof(float) * nb * H);
    lstmForwardLoop(s, tape, hOut, cOut);
  } else if (tape.cell == Cell::Gru) {
    gruForwardLoop(s, tape, hOut);
  } else {
    simpleForwardLoop(s, tape, hOut);
  }
}

size_t heldBytes(const Tape& tape) {
  size_t floats = static_cast<size_t>(tape.kernel.size() + tape.recurrent.size());
  for (const Slice& s : tape.slices) {
    floats += static_cast<size_t>(s.xs.size() + s.gates.size() + s.hs.size() + s.cs.size() + s.tc.size() +
                                  s.rh.size() + s.rmask.size() + s.hm.size() + s.dGates.size());
  }
  return floats * sizeof(float);
}

// Tells the garbage collector how much native memory the tape holds now (it schedules collections
// by it); called after every change.
void account(napi_env env, Tape& tape) {
  const size_t now = heldBytes(tape);
  int64_t adjusted;
  napi_adjust_external_memory(env, static_cast<int64_t>(now) - static_cast<int64_t>(tape.bytes), &adjusted);
  tape.bytes = now;
}

// Frees what the backward no longer needs, as soon as it is done: a tape waiting for the collector
// then holds at most its gate gradients.
void releaseActivations(Tape& tape) {
  for (Slice& s : tape.slices) {
    s.xs = Matrix();
    s.gates = Matrix();
    s.hs = Matrix();
    s.cs = Matrix();
    s.tc = Matrix();
    s.rh = Matrix();
    s.rmask = Matrix();
    s.hm = Matrix();
  }
  tape.recurrent = Matrix();
}

void finalizeTape(napi_env env, void* data, void*) {
  auto* tape = static_cast<Tape*>(data);
  int64_t adjusted;
  napi_adjust_external_memory(env, -static_cast<int64_t>(tape->bytes), &adjusted);
  delete tape;
}

napi_value throwJs(napi_env env, const char* message) {
  napi_throw_error(env, "ERR_SEQTRAIN_RNN_KERNEL", message);
  return nullptr;
}

// Runs a binding body, turning C++ errors into JavaScript exceptions.
template <typename Body>
napi_value guarded(napi_env env, napi_callback_info info, const char* name, Body body) {
  try {
    size_t argc = 1;
    napi_value args;
    check(env, napi_get_cb_info(env, info, &argc, &args, nullptr, nullptr), "arguments");
    if (argc < 1) throw JsError(std::string(name) + " takes one options object");
    return body(args);
  } catch (const JsError& e) {
    return throwJs(env, e.message.c_str());
  } catch (const std::exception& e) {
    return throwJs(env, e.what());
  }
}

// Forward of either cell: { x, h0, c0 (LSTM), kernel, recurrentKernel, bias, timeSteps, batch, inputs, units,
// threads, keep, lastOnly, recurrentMask ([B, H] or null) } -> { h: [T, B, H], c: [T, B, H] (LSTM; both [B, H]
// with lastOnly), tape (null unless keep) }. Without keep
// (inference: no gradient will be asked for) the activations are freed before returning.
napi_value Forward(napi_env env, napi_value args, Cell cell) {
  auto tape = std::make_unique<Tape>();
  tape->cell = cell;
  const int T = tape->T = intProp(env, args, "timeSteps", 1);
  const int B = tape->B = intProp(env, args, "batch", 1);
  const int I = tape->I = intProp(env, args, "inputs", 0);
  const int H = tape->H = intProp(env, args, "units", 1);
  const int G = tape->G = (cell == Cell::Lstm ? 4 : cell == Cell::Gru ? 3 : 1) * H;
  const int threads = intProp(env, args, "threads", 1);
  bool keep = true;
  napi_value keepValue = prop(env, args, "keep");
  if (!isNullish(env, keepValue) && napi_get_value_bool(env, keepValue, &keep) != napi_ok) {
    throw JsError("keep must be a boolean");
  }
  napi_value lastOnlyValue = prop(env, args, "lastOnly");
  if (!isNullish(env, lastOnlyValue) && napi_get_value_bool(env, lastOnlyValue, &tape->lastOnly) != napi_ok) {
    throw JsError("lastOnly must be a boolean");
  }
  const bool lstm = cell == Cell::Lstm;
  FloatView x = floatsProp(env, args, "x"), h0 = floatsProp(env, args, "h0");
  FloatView c0 = lstm ? floatsProp(env, args, "c0") : FloatView{};
  FloatView kernel = floatsProp(env, args, "kernel"), recurrent = floatsProp(env, args, "recurrentKernel");
  FloatView bias = floatsProp(env, args, "bias", true);
  FloatView rmask = floatsProp(env, args, "recurrentMask", true);
  if (rmask.data != nullptr) expectLength(rmask, static_cast<size_t>(B) * H, "recurrentMask");
  expectLength(x, static_cast<size_t>(T) * B * I, "x");
  expectLength(h0, static_cast<size_t>(B) * H, "h0");
  if (lstm) expectLength(c0, static_cast<size_t>(B) * H, "c0");
  expectLength(kernel, static_cast<size_t>(I) * G, "kernel");
  expectLength(recurrent, static_cast<size_t>(H) * G, "recurrentKernel");
  tape->hasBias = bias.data != nullptr;
  if (tape->hasBias) expectLength(bias, static_cast<size_t>(G), "bias");
  tape->kernel = ConstMap(kernel.data, I, G);
  tape->recurrent = ConstMap(recurrent.data, H, G);

  // The batch is cut into slices of 16 to 31 rows whatever the thread count, so the results do not
  // depend on it (trainers with different thread counts compute the same bytes); threads share them.
  const int count = std::max(1, B / kSliceRows);
  tape->threads = threads;
  tape->slices.resize(count);
  for (int s = 0; s < count; ++s) {
    tape->slices[s].b0 = B * s / count;
    tape->slices[s].nb = B * (s + 1) / count - tape->slices[s].b0;
  }
  const size_t steps = static_cast<size_t>(tape->lastOnly ? 1 : T) * B * H;
  float *hOut, *cOut = nullptr;
  napi_value hArr = newFloats(env, steps, &hOut), cArr = nullValue(env);
  if (lstm) cArr = newFloats(env, steps, &cOut);
  Tape& tp = *tape;
  parallelSlices(count, threads, [&](int s) {
    forwardSlice(tp.slices[s], tp, x.data, h0.data, c0.data, tp.hasBias ? bias.data : nullptr, rmask.data, hOut,
                 cOut);
  });
  napi_value external, result;
  if (keep) {
    Tape* raw = tape.release();
    if (napi_create_external(env, raw, finalizeTape, nullptr, &external) != napi_ok) {
      finalizeTape(env, raw, nullptr);
      throw JsError("cannot create the tape");
    }
    account(env, *raw);
  } else {
    external = nullValue(env);
  }
  check(env, napi_create_object(env, &result), "result");
  setProp(env, result, "h", hArr);
  if (lstm) setProp(env, result, "c", cArr);
  setProp(env, result, "tape", external);
  return result;
}

struct Grads {
  Matrix dKernel, dRecurrent;
  RowVector dBias;
};

// Output gradients: every step's ([T, B, H]), the last step's ([B, H]) or absent.
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

// Adds step t's output gradient for this slice (and the last-step one at t = T - 1) to m.
void addOutGrad(Matrix& m, const OutGrad& g, const Tape& tape, const Slice& s, int t) {
  const int H = tape.H, nb = s.nb;
  if (g.all.data != nullptr) m += ConstMap(g.all.data + (static_cast<size_t>(t) * tape.B + s.b0) * H, nb, H);
  if (t == tape.T - 1 && g.last.data != nullptr) m += ConstMap(g.last.data + static_cast<size_t>(s.b0) * H, nb, H);
}

void lstmBackwardLoop(Slice& s, const Tape& tape, const OutGrad& dh, const OutGrad& dc, float* dh0, float* dc0) {
  const int T = tape.T, H = tape.H, nb = s.nb;
  Matrix dhNext = Matrix::Zero(nb, H), dcNext = Matrix::Zero(nb, H);
  for (int t = T - 1; t >= 0; --t) {
    addOutGrad(dhNext, dh, tape, s, t);
    addOutGrad(dcNext, dc, tape, s, t);
    const Eigen::Index r = rows(t, nb);
    auto a = s.gates.middleRows(r, nb).array();
    auto i = a.leftCols(H), f = a.middleCols(H, H), c = a.middleCols(2 * H, H), o = a.rightCols(H);
    auto tc = s.tc.middleRows(r, nb).array();
    auto d = s.dGates.middleRows(r, nb).array();
    const auto dhA = dhNext.array();
    const Array dct = dcNext.array() + dhA * o * (1.0f - tc.square());
    d.rightCols(H) = dhA * tc * o * (1.0f - o);
    d.leftCols(H) = dct * c * i * (1.0f - i);
    d.middleCols(H, H) = dct * s.cs.middleRows(r, nb).array() * f * (1.0f - f);
    d.middleCols(2 * H, H) = dct * i * (1.0f - c.square());
    dcNext.array() = dct * f;
    dhNext.noalias() = s.dGates.middleRows(r, nb) * tape.recurrent.transpose();
    if (masked(s)) dhNext.array() *= s.rmask.array();
  }
  std::memcpy(dh0 + static_cast<size_t>(s.b0) * H, dhNext.data(), sizeof(float) * nb * H);
  std::memcpy(dc0 + static_cast<size_t>(s.b0) * H, dcNext.data(), sizeof(float) * nb * H);
}

void gruBackwardLoop(Slice& s, const Tape& tape, const OutGrad& dh, float* dh0) {
  const int T = tape.T, H = tape.H, nb = s.nb;
  const auto uzr = tape.recurrent.leftCols(2 * H);
  const auto uh = tape.recurrent.rightCols(H);
  Matrix dhNext = Matrix::Zero(nb, H), dRh(nb, H);
  for (int t = T - 1; t >= 0; --t) {
    addOutGrad(dhNext, dh, tape, s, t);
    const Eigen::Index r = rows(t, nb);
    auto a = s.gates.middleRows(r, nb).array();
    auto z = a.leftCols(H), rg = a.middleCols(H, H), hh = a.rightCols(H);
    const auto hp = savedPrevState(s, t).array();
    auto dG = s.dGates.middleRows(r, nb);
    const auto dhA = dhNext.array();
    dG.leftCols(H).array() = dhA * (hp - hh) * z * (1.0f - z);
    dG.rightCols(H).array() = dhA * (1.0f - z) * (1.0f - hh.square());
    dRh.noalias() = dG.rightCols(H) * uh.transpose();
    dG.middleCols(H, H).array() = dRh.array() * hp * rg * (1.0f - rg);
    // h_prev reaches h' directly (z h), through r h and through both gates' products.
    const Array direct = dhA * z + dRh.array() * rg;
    dhNext.noalias() = dG.leftCols(2 * H) * uzr.transpose();
    dhNext.array() += direct;
    if (masked(s)) dhNext.array() *= s.rmask.array();
  }
  std::memcpy(dh0 + static_cast<size_t>(s.b0) * H, dhNext.data(), sizeof(float) * nb * H);
}

void simpleBackwardLoop(Slice& s, const Tape& tape, const OutGrad& dh, float* dh0) {
  const int T = tape.T, H = tape.H, nb = s.nb;
  Matrix dhNext = Matrix::Zero(nb, H);
  for (int t = T - 1; t >= 0; --t) {
    addOutGrad(dhNext, dh, tape, s, t);
    const Eigen::Index r = rows(t, nb);
    const auto h = s.gates.middleRows(r, nb).array();
    s.dGates.middleRows(r, nb).array() = dhNext.array() * (1.0f - h.square());
    dhNext.noalias() = s.dGates.middleRows(r, nb) * tape.recurrent.transpose();
    if (masked(s)) dhNext.array() *= s.rmask.array();
  }
  std::memcpy(dh0 + static_cast<size_t>(s.b0) * H, dhNext.data(), sizeof(float) * nb * H);
}

void backwardSlice(Slice& s, const Tape& tape, const OutGrad& dh, const OutGrad& dc, float* dh0, float* dc0,
                   Grads& g) {
  const int T = tape.T, H = tape.H, nb = s.nb;
  s.dGates.resize(rows(T, nb), tape.G);
  if (tape.cell == Cell::Lstm) {
    lstmBackwardLoop(s, tape, dh, dc, dh0, dc0);
  } else if (tape.cell == Cell::Gru) {
    gruBackwardLoop(s, tape, dh, dh0);
  } else {
    simpleBackwardLoop(s, tape, dh, dh0);
  }
  // Weight gradients of every step in one product each.
  g.dKernel.noalias() = s.xs.transpose() * s.dGates;
  const auto hPrev = (masked(s) ? s.hm : s.hs).topRows(rows(T, nb));
  if (tape.cell != Cell::Gru) {
    g.dRecurrent.noalias() = hPrev.transpose() * s.dGates;
  } else {
    g.dRecurrent.resize(H, tape.G);
    g.dRecurrent.leftCols(2 * H).noalias() = hPrev.transpose() * s.dGates.leftCols(2 * H);
    g.dRecurrent.rightCols(H).noalias() = s.rh.transpose() * s.dGates.rightCols(H);
  }
  if (tape.hasBias) g.dBias = s.dGates.colwise().sum();
}

Tape& tapeProp(napi_env env, napi_value args, Cell cell) {
  void* raw;
  if (napi_get_value_external(env, prop(env, args, "tape"), &raw) != napi_ok) {
    throw JsError("tape must be the tape a forward call returned");
  }
  Tape& tape = *static_cast<Tape*>(raw);
  if (tape.cell != cell) throw JsError("tape comes from the forward of another cell");
  return tape;
}

void expectStage(const Tape& tape, Stage want, const char* what) {
  if (tape.stage == want) return;
  if (want == Stage::Forward) throw JsError(std::string(what) + ": the backward already ran on this tape");
  if (tape.stage == Stage::Forward) throw JsError(std::string(what) + " needs the backward to run on this tape first");
  throw JsError(std::string(what) + ": the input gradient was already taken from this tape");
}

// { tape, dh, dc (LSTM) } -> { dh0, dc0 (LSTM), dKernel, dRecurrentKernel, dBias | null }
napi_value Backward(napi_env env, napi_value args, Cell cell) {
  Tape& tape = tapeProp(env, args, cell);
  expectStage(tape, Stage::Forward, "backward");
  const bool lstm = cell == Cell::Lstm;
  const OutGrad dh = outGrad(floatsProp(env, args, "dh", true), tape, "dh");
  const OutGrad dc = lstm ? outGrad(floatsProp(env, args, "dc", true), tape, "dc") : OutGrad{};
  const int B = tape.B, I = tape.I, H = tape.H, G = tape.G;
  float *dh0, *dc0 = nullptr, *dKernel, *dRecurrent, *dBias = nullptr;
  napi_value result, dBiasArr = nullValue(env);
  napi_value dh0Arr = newFloats(env, static_cast<size_t>(B) * H, &dh0);
  napi_value dc0Arr = lstm ? newFloats(env, static_cast<size_t>(B) * H, &dc0) : nullValue(env);
  napi_value dKernelArr = newFloats(env, static_cast<size_t>(I) * G, &dKernel);
  napi_value dRecurrentArr = newFloats(env, static_cast<size_t>(H) * G, &dRecurrent);
  if (tape.hasBias) dBiasArr = newFloats(env, static_cast<size_t>(G), &dBias);

  const int count = static_cast<int>(tape.slices.size());
  std::vector<Grads> grads(count);
  parallelSlices(count, tape.threads, [&](int s) { backwardSlice(tape.slices[s], tape, dh, dc, dh0, dc0, grads[s]); });
  // Slice partials summed in slice order.
  MutMap dk(dKernel, I, G), dr(dRecurrent, H, G);
  dk = grads[0].dKernel;
  dr = grads[0].dRecurrent;
  for (int s = 1; s < count; ++s) {
    dk += grads[s].dKernel;
    dr += grads[s].dRecurrent;
  }
  if (dBias != nullptr) {
    Eigen::Map<RowVector> db(dBias, G);
    db = grads[0].dBias;
    for (int s = 1; s < count; ++s) db += grads[s].dBias;
  }
  releaseActivations(tape);
  tape.stage = Stage::Backward;
  account(env, tape);
  check(env, napi_create_object(env, &result), "result");
  setProp(env, result, "dh0", dh0Arr);
  if (lstm) setProp(env, result, "dc0", dc0Arr);
  setProp(env, result, "dKernel", dKernelArr);
  setProp(env, result, "dRecurrentKernel", dRecurrentArr);
  setProp(env, result, "dBias", dBiasArr);
  return result;
}

// { tape } -> dx [T, B, I], after the backward on the same tape. Separate because the input of a
// first layer is data: its gradient is usually never asked for.
napi_value InputGrad(napi_env env, napi_value args, Cell cell) {
  Tape& tape = tapeProp(env, args, cell);
  expectStage(tape, Stage::Backward, "the input gradient");
  float* dx;
  napi_value dxArr = newFloats(env, static_cast<size_t>(tape.T) * tape.B * tape.I, &dx);
  if (tape.I > 0) parallelSlices(static_cast<int>(tape.slices.size()), tape.threads, [&](int i) {
    const Slice& s = tape.slices[i];
    const Matrix dxs = s.dGates * tape.kernel.transpose();
    for (int t = 0; t < tape.T; ++t) {
      scatterStep(dx, dxs.data() + static_cast<size_t>(t) * s.nb * tape.I, t, tape.B, s.b0, s.nb, tape.I);
    }
  });
  for (Slice& s : tape.slices) s.dGates = Matrix();
  tape.kernel = Matrix();
  tape.stage = Stage::Done;
  account(env, tape);
  return dxArr;
}

#define BINDING(NAME, FN, CELL)                                                           \
  napi_value NAME(napi_env env, napi_callback_info info) {                                \
    return guarded(env, info, #NAME, [&](napi_value args) { return FN(env, args, CELL); }); \
  }
BINDING(lstmForward, Forward, Cell::Lstm)
BINDING(lstmBackward, Backward, Cell::Lstm)
BINDING(lstmInputGrad, InputGrad, Cell::Lstm)
BINDING(gruForward, Forward, Cell::Gru)
BINDING(gruBackward, Backward, Cell::Gru)
BINDING(gruInputGrad, InputGrad, Cell::Gru)
BINDING(simpleRnnForward, Forward, Cell::Simple)
BINDING(simpleRnnBackward, Backward, Cell::Simple)
BINDING(simpleRnnInputGrad, InputGrad, Cell::Simple)
#undef BINDING

napi_value Init(napi_env env, napi_value exports) {
#define PROP(NAME) {#NAME, nullptr, NAME, nullptr, nullptr, nullptr, napi_default_jsproperty, nullptr}
  napi_property_descriptor props[] = {PROP(lstmForward), PROP(lstmBackward), PROP(lstmInputGrad),
                                      PROP(gruForward),  PROP(gruBackward),  PROP(gruInputGrad),
                                      PROP(simpleRnnForward), PROP(simpleRnnBackward), PROP(simpleRnnInputGrad)};
#undef PROP
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  napi_value version;
  napi_create_uint32(env, 6, &version);
  napi_set_named_property(env, exports, "abiVersion", version);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
