// The trainer (Dense head, MSE loss, Adam on device-resident weights) and the LSTM on cuDNN's RNN
// API: cudnnRNNForward (training mode, with reserve space), cudnnRNNBackwardData_v8,
// cudnnRNNBackwardWeights_v8, the padded batch-major layout for variable lengths.
//
// Weight mapping. cuDNN's LSTM has gates i, f, g (new memory), o: the order of Keras's i, f, c, o.
// cudnnGetRNNWeightParams gives, for pseudo-layer 0, linLayerID 0..3 the input matrices W_g
// ([H, F], row-major: out = W_g x) and 4..7 the recurrent ones R_g ([H, H]), each with its bias.
// Keras's kernel[:, g*H + j] is row j of W_g (a transpose), and Keras has one bias: it goes into
// the input biases b_W, the recurrent biases b_R are zero and their gradients are zeroed before
// every Adam update, so they stay zero (Adam is elementwise: a zero gradient from zero moments moves
// nothing). Adam runs over the whole weight space at once; that is the same as Adam over Keras's
// tensors because the mapping is a permutation.
#include <cudnn.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include "rnn_internal.h"

namespace seqtrain {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw CudaError(std::string(what) + ": " + cudaGetErrorString(e));
}

void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) throw CudaError(std::string(what) + ": cuBLAS status " + std::to_string(s));
}

static void check(cudnnStatus_t s, const char* what) {
  if (s != CUDNN_STATUS_SUCCESS) throw CudaError(std::string(what) + ": " + cudnnGetErrorString(s));
}

void gemm(cublasHandle_t h, int m, int n, int k, const float* A, int lda, bool transA, const float* B, int ldb,
          bool transB, float* C, int ldc, float alpha, float beta) {
  // Row-major X is column-major X^T: C^T = op(B)^T op(A)^T.
  check(cublasSgemm(h, transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha, B,
                    ldb, A, lda, &beta, C, ldc),
        "cublasSgemm");
}

namespace {

// tfjs's Adam (and PyTorch's): m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
// p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
__global__ void adamKernel(float* p, const float* g, float* m, float* v, size_t n, float lr, float b1, float b2,
                           float eps, float c1, float c2) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const float gi = g[i];
    const float mi = b1 * m[i] + (1.0f - b1) * gi;
    const float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] -= lr * (mi / c1) / (sqrtf(vi / c2) + eps);
  }
}

// yhat += bias; diff = yhat - y; dyhat = 2 diff / (B O)
__global__ void headLossKernel(float* yhat, const float* bias, const float* y, float* diff, float* dyhat, int B,
                               int O) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= B * O) return;
  const float d = yhat[i] + bias[i % O] - y[i];
  diff[i] = d;
  dyhat[i] = 2.0f * d / static_cast<float>(B * O);
}

__global__ void fillKernel(float* p, size_t n, float value) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    p[i] = value;
}

template <typename T>
struct DeviceBuffer {
  T* ptr = nullptr;
  size_t count = 0;
  void alloc(size_t n, const char* what) {
    release();
    count = n;
    if (n > 0) check(cudaMalloc(reinterpret_cast<void**>(&ptr), n * sizeof(T)), what);
  }
  void release() {
    if (ptr != nullptr) cudaFree(ptr);
    ptr = nullptr;
    count = 0;
  }
  ~DeviceBuffer() { release(); }
};

size_t roundUp(size_t n, size_t to) { return (n + to - 1) / to * to; }

class CudnnLstm final : public Recurrent {
 public:
  CudnnLstm(const st_config& c, cudnnHandle_t dnn) : c_(c), dnn_(dnn), lengths_(c.batch, c.time_steps) {
    check(cudnnCreateDropoutDescriptor(&drop_), "cudnnCreateDropoutDescriptor");
    check(cudnnSetDropoutDescriptor(drop_, dnn_, 0.0f, nullptr, 0, 0), "cudnnSetDropoutDescriptor");
    check(cudnnCreateRNNDescriptor(&rnn_), "cudnnCreateRNNDescriptor");
    check(cudnnSetRNNDescriptor_v8(rnn_, CUDNN_RNN_ALGO_STANDARD, CUDNN_LSTM, CUDNN_RNN_DOUBLE_BIAS,
                                   CUDNN_UNIDIRECTIONAL, CUDNN_LINEAR_INPUT, CUDNN_DATA_FLOAT, CUDNN_DATA_FLOAT,
                                   c.tf32 != 0 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH, c.inputs, c.units, c.units, 1,
                                   drop_, CUDNN_RNN_PADDED_IO_ENABLED),
          "cudnnSetRNNDescriptor_v8");
    check(cudnnCreateRNNDataDescriptor(&xDesc_), "cudnnCreateRNNDataDescriptor");
    check(cudnnCreateRNNDataDescriptor(&yDesc_), "cudnnCreateRNNDataDescriptor");
    check(cudnnCreateTensorDescriptor(&hDesc_), "cudnnCreateTensorDescriptor");
    const int dims[3] = {1, c.batch, c.units};
    const int strides[3] = {c.batch * c.units, c.units, 1};
    check(cudnnSetTensorNdDescriptor(hDesc_, CUDNN_DATA_FLOAT, 3, dims, strides), "cudnnSetTensorNdDescriptor");
    check(cudnnGetRNNWeightSpaceSize(dnn_, rnn_, &weightBytes_), "cudnnGetRNNWeightSpaceSize");
    devLengths_.alloc(c.batch, "cudaMalloc(seqLengths)");
    describeData();
    const size_t BTH = static_cast<size_t>(c.batch) * c.time_steps * c.units;
    y_.alloc(BTH, "cudaMalloc(y)");
    dy_.alloc(BTH, "cudaMalloc(dy)");
    check(cudaMemset(dy_.ptr, 0, BTH * sizeof(float)), "cudaMemset(dy)");
    dx_.alloc(static_cast<size_t>(c.batch) * c.time_steps * c.inputs, "cudaMalloc(dx)");
    hy_.alloc(static_cast<size_t>(c.batch) * c.units, "cudaMalloc(hy)");
  }

  ~CudnnLstm() override {
    cudnnDestroyRNNDataDescriptor(xDesc_);
    cudnnDestroyRNNDataDescriptor(yDesc_);
    cudnnDestroyTensorDescriptor(hDesc_);
    cudnnDestroyRNNDescriptor(rnn_);
    cudnnDestroyDropoutDescriptor(drop_);
  }

  size_t paramFloats() const override { return roundUp(weightBytes_, 256) / sizeof(float); }

  void bind(float* params, float* grads) override {
    w_ = params;
    dw_ = grads;
    // Offsets (in floats) of each gate's matrix and bias inside the weight space.
    cudnnTensorDescriptor_t mDesc, bDesc;
    check(cudnnCreateTensorDescriptor(&mDesc), "cudnnCreateTensorDescriptor");
    check(cudnnCreateTensorDescriptor(&bDesc), "cudnnCreateTensorDescriptor");
    for (int id = 0; id < 8; ++id) {
      void* m = nullptr;
      void* b = nullptr;
      check(cudnnGetRNNWeightParams(dnn_, rnn_, 0, weightBytes_, w_, id, mDesc, &m, bDesc, &b),
            "cudnnGetRNNWeightParams");
      const int rows = c_.units, cols = id < 4 ? c_.inputs : c_.units;
      expectElements(mDesc, static_cast<size_t>(rows) * cols, "matrix", id);
      expectElements(bDesc, static_cast<size_t>(c_.units), "bias", id);
      mOff_[id] = static_cast<size_t>(static_cast<float*>(m) - w_);
      bOff_[id] = static_cast<size_t>(static_cast<float*>(b) - w_);
    }
    cudnnDestroyTensorDescriptor(mDesc);
    cudnnDestroyTensorDescriptor(bDesc);
  }

  void upload(const st_weights_in& in) override {
    const int F = c_.inputs, H = c_.units, G = 4 * H;
    std::vector<float> host(paramFloats(), 0.0f);
    for (int g = 0; g < 4; ++g) {
      for (int j = 0; j < H; ++j) {
        for (int i = 0; i < F; ++i) host[mOff_[g] + static_cast<size_t>(j) * F + i] = in.kernel[i * G + g * H + j];
        for (int i = 0; i < H; ++i)
          host[mOff_[4 + g] + static_cast<size_t>(j) * H + i] = in.recurrent_kernel[i * G + g * H + j];
        host[bOff_[g] + j] = in.bias != nullptr ? in.bias[g * H + j] : 0.0f;
        host[bOff_[4 + g] + j] = 0.0f;
      }
    }
    check(cudaMemcpy(w_, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy(weights)");
  }

  void download(st_weights_out& out, bool grads) override {
    const int F = c_.inputs, H = c_.units, G = 4 * H;
    std::vector<float> host(paramFloats());
    check(cudaMemcpy(host.data(), grads ? dw_ : w_, host.size() * sizeof(float), cudaMemcpyDeviceToHost),
          "cudaMemcpy(weights)");
    for (int g = 0; g < 4; ++g) {
      for (int j = 0; j < H; ++j) {
        for (int i = 0; i < F; ++i) out.kernel[i * G + g * H + j] = host[mOff_[g] + static_cast<size_t>(j) * F + i];
        for (int i = 0; i < H; ++i)
          out.recurrent_kernel[i * G + g * H + j] = host[mOff_[4 + g] + static_cast<size_t>(j) * H + i];
        // b_R is zero and its gradient (zeroed before Adam) equals b_W's: Keras's bias is b_W.
        out.bias[g * H + j] = host[bOff_[g] + j];
      }
    }
  }

  void setLengths(const int* hostLengths) override {
    std::vector<int> next(c_.batch, c_.time_steps);
    if (hostLengths != nullptr) {
      for (int b = 0; b < c_.batch; ++b) {
        if (hostLengths[b] < 1 || hostLengths[b] > c_.time_steps)
          throw CudaError("lengths[" + std::to_string(b) + "] = " + std::to_string(hostLengths[b]) +
                          " is outside 1.." + std::to_string(c_.time_steps) + " (cuDNN needs at least one step)");
        next[b] = hostLengths[b];
      }
    }
    if (next != lengths_) {
      lengths_ = next;
      describeData();
    }
  }

  const float* forward(const float* x) override {
    check(cudnnRNNForward(dnn_, rnn_, CUDNN_FWD_MODE_TRAINING, devLengths_.ptr, xDesc_, x, yDesc_, y_.ptr, hDesc_,
                          nullptr, hy_.ptr, hDesc_, nullptr, nullptr, weightBytes_, w_, work_.count, work_.ptr,
                          reserve_.count, reserve_.ptr),
          "cudnnRNNForward");
    return hy_.ptr;
  }

  void backward(const float* x, const float* dhLast) override {
    check(cudnnRNNBackwardData_v8(dnn_, rnn_, devLengths_.ptr, yDesc_, y_.ptr, dy_.ptr, xDesc_, dx_.ptr, hDesc_,
                                  nullptr, dhLast, nullptr, hDesc_, nullptr, nullptr, nullptr, weightBytes_, w_,
                                  work_.count, work_.ptr, reserve_.count, reserve_.ptr),
          "cudnnRNNBackwardData_v8");
    check(cudnnRNNBackwardWeights_v8(dnn_, rnn_, CUDNN_WGRAD_MODE_ADD, devLengths_.ptr, xDesc_, x, hDesc_, nullptr,
                                     yDesc_, y_.ptr, weightBytes_, dw_, work_.count, work_.ptr, reserve_.count,
                                     reserve_.ptr),
          "cudnnRNNBackwardWeights_v8");
    // Keep the recurrent biases at zero (Keras has one bias per gate).
    cudaStream_t stream;
    check(cudnnGetStream(dnn_, &stream), "cudnnGetStream");
    for (int g = 4; g < 8; ++g)
      check(cudaMemsetAsync(dw_ + bOff_[g], 0, sizeof(float) * c_.units, stream), "cudaMemsetAsync(dbR)");
  }

 private:
  static void expectElements(cudnnTensorDescriptor_t d, size_t want, const char* what, int id) {
    cudnnDataType_t type;
    int nb = 0, dims[8], strides[8];
    check(cudnnGetTensorNdDescriptor(d, 8, &type, &nb, dims, strides), "cudnnGetTensorNdDescriptor");
    size_t n = 1;
    for (int i = 0; i < nb; ++i) n *= static_cast<size_t>(dims[i]);
    if (n != want)
      throw CudaError("cuDNN LSTM " + std::string(what) + " " + std::to_string(id) + " has " + std::to_string(n) +
                      " elements, expected " + std::to_string(want));
  }

  void describeData() {
    float zero = 0.0f;
    check(cudnnSetRNNDataDescriptor(xDesc_, CUDNN_DATA_FLOAT, CUDNN_RNN_DATA_LAYOUT_BATCH_MAJOR_UNPACKED,
                                    c_.time_steps, c_.batch, c_.inputs, lengths_.data(), &zero),
          "cudnnSetRNNDataDescriptor(x)");
    check(cudnnSetRNNDataDescriptor(yDesc_, CUDNN_DATA_FLOAT, CUDNN_RNN_DATA_LAYOUT_BATCH_MAJOR_UNPACKED,
                                    c_.time_steps, c_.batch, c_.units, lengths_.data(), &zero),
          "cudnnSetRNNDataDescriptor(y)");
    check(cudaMemcpy(devLengths_.ptr, lengths_.data(), sizeof(int) * c_.batch, cudaMemcpyHostToDevice),
          "cudaMemcpy(seqLengths)");
    size_t work = 0, reserve = 0;
    check(cudnnGetRNNTempSpaceSizes(dnn_, rnn_, CUDNN_FWD_MODE_TRAINING, xDesc_, &work, &reserve),
          "cudnnGetRNNTempSpaceSizes");
    if (work > work_.count) work_.alloc(work, "cudaMalloc(workspace)");
    if (reserve > reserve_.count) reserve_.alloc(reserve, "cudaMalloc(reserve)");
  }

  st_config c_;
  cudnnHandle_t dnn_;
  cudnnDropoutDescriptor_t drop_ = nullptr;
  cudnnRNNDescriptor_t rnn_ = nullptr;
  cudnnRNNDataDescriptor_t xDesc_ = nullptr, yDesc_ = nullptr;
  cudnnTensorDescriptor_t hDesc_ = nullptr;
  size_t weightBytes_ = 0;
  size_t mOff_[8] = {}, bOff_[8] = {};
  float* w_ = nullptr;
  float* dw_ = nullptr;
  std::vector<int> lengths_;
  DeviceBuffer<int> devLengths_;
  DeviceBuffer<float> y_, dy_, dx_, hy_;
  DeviceBuffer<unsigned char> work_, reserve_;
};

}  // namespace

}  // namespace seqtrain

using namespace seqtrain;

struct st_trainer {
  st_config c{};
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  cudnnHandle_t dnn = nullptr;
  std::unique_ptr<Recurrent> rnn;
  size_t rnnFloats = 0, nParams = 0;
  DeviceBuffer<float> params, grads, m, v;
  float* denseKernel = nullptr;  // [H, O], inside params
  float* denseBias = nullptr;    // [O]
  DeviceBuffer<float> x, y, yhat, diff, dyhat, dh, ones, loss;
  const float* hLast = nullptr;
  long step = 0;
  double accBeta1 = 1.0, accBeta2 = 1.0;

  ~st_trainer() {
    rnn.reset();
    if (dnn != nullptr) cudnnDestroy(dnn);
    if (blas != nullptr) cublasDestroy(blas);
    if (stream != nullptr) cudaStreamDestroy(stream);
  }

  void create(const st_config& cfg, const st_weights_in& w) {
    c = cfg;
    const int B = c.batch, H = c.units, O = c.outputs;
    check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
    check(cublasCreate(&blas), "cublasCreate");
    check(cublasSetStream(blas, stream), "cublasSetStream");
    check(cublasSetMathMode(blas, c.tf32 != 0 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH),
          "cublasSetMathMode");
    check(cudnnCreate(&dnn), "cudnnCreate");
    check(cudnnSetStream(dnn, stream), "cudnnSetStream");
    if (c.cell == ST_LSTM)
      rnn.reset(new CudnnLstm(c, dnn));
    else
      rnn.reset(makeGru(c, blas, stream));
    rnnFloats = rnn->paramFloats();
    const size_t denseFloats = roundUp(static_cast<size_t>(H) * O + O, 64);
    nParams = rnnFloats + denseFloats;
    params.alloc(nParams, "cudaMalloc(params)");
    grads.alloc(nParams, "cudaMalloc(grads)");
    m.alloc(nParams, "cudaMalloc(adam m)");
    v.alloc(nParams, "cudaMalloc(adam v)");
    for (auto* b : {&params, &grads, &m, &v})
      check(cudaMemset(b->ptr, 0, nParams * sizeof(float)), "cudaMemset(params)");
    rnn->bind(params.ptr, grads.ptr);
    rnn->upload(w);
    denseKernel = params.ptr + rnnFloats;
    denseBias = denseKernel + static_cast<size_t>(H) * O;
    check(cudaMemcpy(denseKernel, w.dense_kernel, sizeof(float) * H * O, cudaMemcpyHostToDevice), "cudaMemcpy");
    check(cudaMemcpy(denseBias, w.dense_bias, sizeof(float) * O, cudaMemcpyHostToDevice), "cudaMemcpy");
    x.alloc(static_cast<size_t>(B) * c.time_steps * c.inputs, "cudaMalloc(x)");
    y.alloc(static_cast<size_t>(B) * O, "cudaMalloc(y)");
    yhat.alloc(static_cast<size_t>(B) * O, "cudaMalloc(yhat)");
    diff.alloc(static_cast<size_t>(B) * O, "cudaMalloc(diff)");
    dyhat.alloc(static_cast<size_t>(B) * O, "cudaMalloc(dyhat)");
    dh.alloc(static_cast<size_t>(B) * H, "cudaMalloc(dh)");
    ones.alloc(static_cast<size_t>(B), "cudaMalloc(ones)");
    fillKernel<<<64, 256, 0, stream>>>(ones.ptr, ones.count, 1.0f);
    loss.alloc(1, "cudaMalloc(loss)");
    check(cudaStreamSynchronize(stream), "create");
  }

  // forward, head, loss and backward; gradients into grads (zeroed first)
  void gradients() {
    const int B = c.batch, H = c.units, O = c.outputs;
    check(cudaMemsetAsync(grads.ptr, 0, nParams * sizeof(float), stream), "cudaMemsetAsync(grads)");
    hLast = rnn->forward(x.ptr);
    gemm(blas, B, O, H, hLast, H, false, denseKernel, O, false, yhat.ptr, O, 1.0f, 0.0f);
    headLossKernel<<<(B * O + 255) / 256, 256, 0, stream>>>(yhat.ptr, denseBias, y.ptr, diff.ptr, dyhat.ptr, B, O);
    check(cudaGetLastError(), "headLossKernel");
    float* dDense = grads.ptr + rnnFloats;
    gemm(blas, H, O, B, hLast, H, true, dyhat.ptr, O, false, dDense, O, 1.0f, 0.0f);
    gemm(blas, 1, O, B, ones.ptr, B, false, dyhat.ptr, O, false, dDense + static_cast<size_t>(H) * O, O, 1.0f, 0.0f);
    gemm(blas, B, H, O, dyhat.ptr, O, false, denseKernel, O, true, dh.ptr, H, 1.0f, 0.0f);
    rnn->backward(x.ptr, dh.ptr);
  }

  void adam() {
    ++step;
    accBeta1 *= c.beta1;
    accBeta2 *= c.beta2;
    adamKernel<<<1024, 256, 0, stream>>>(params.ptr, grads.ptr, m.ptr, v.ptr, nParams, c.learning_rate, c.beta1,
                                          c.beta2, c.epsilon, static_cast<float>(1.0 - accBeta1),
                                          static_cast<float>(1.0 - accBeta2));
    check(cudaGetLastError(), "adamKernel");
  }

  float readLoss() {
    const int n = c.batch * c.outputs;
    float sum = 0.0f;
    check(cublasSdot(blas, n, diff.ptr, 1, diff.ptr, 1, &sum), "cublasSdot(loss)");
    return sum / static_cast<float>(n);
  }
};

namespace {

int fail(char* err, size_t len, const std::string& msg) {
  if (err != nullptr && len > 0) std::snprintf(err, len, "%s", msg.c_str());
  return 1;
}

}  // namespace

extern "C" int st_probe(char* device, size_t device_len, int* cc_major, int* cc_minor, size_t* memory_bytes,
                        int* cudnn_version, int* runtime_version, int* driver_version, char* err, size_t err_len) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  cudaDriverGetVersion(driver_version);
  cudaRuntimeGetVersion(runtime_version);
  *cudnn_version = 0;
  if (e != cudaSuccess) return fail(err, err_len, std::string("cudaGetDeviceCount: ") + cudaGetErrorString(e));
  if (count == 0) return fail(err, err_len, "the CUDA driver reports no device");
  // Only now: libcudnn.so.9 loads its sub-libraries (graph, ops, adv) on first use.
  *cudnn_version = static_cast<int>(cudnnGetVersion());
  cudaDeviceProp prop{};
  e = cudaGetDeviceProperties(&prop, 0);
  if (e != cudaSuccess) return fail(err, err_len, std::string("cudaGetDeviceProperties: ") + cudaGetErrorString(e));
  std::snprintf(device, device_len, "%s", prop.name);
  *cc_major = prop.major;
  *cc_minor = prop.minor;
  *memory_bytes = prop.totalGlobalMem;
  return 0;
}

extern "C" int st_trainer_create(const st_config* config, st_weights_in weights, st_trainer** out, char* err,
                                 size_t err_len) {
  const st_config& c = *config;
  if (c.batch < 1 || c.time_steps < 1 || c.inputs < 1 || c.units < 1 || c.outputs < 1)
    return fail(err, err_len, "batch, timeSteps, inputs, units and outputs must be positive");
  if (weights.kernel == nullptr || weights.recurrent_kernel == nullptr || weights.dense_kernel == nullptr ||
      weights.dense_bias == nullptr)
    return fail(err, err_len, "kernel, recurrentKernel, denseKernel and denseBias are required");
  auto* t = new st_trainer();
  try {
    t->create(c, weights);
  } catch (const std::exception& ex) {
    delete t;
    return fail(err, err_len, ex.what());
  }
  *out = t;
  return 0;
}

extern "C" int st_trainer_run(st_trainer* t, const float* x, const float* y, const int* lengths, int steps, int apply,
                              float* loss, char* err, size_t err_len) {
  try {
    if (steps < 1 || (apply == 0 && steps != 1)) throw CudaError("steps must be >= 1 (exactly 1 without apply)");
    const st_config& c = t->c;
    t->rnn->setLengths(lengths);
    check(cudaMemcpyAsync(t->x.ptr, x, sizeof(float) * t->x.count, cudaMemcpyHostToDevice, t->stream),
          "cudaMemcpy(x)");
    check(cudaMemcpyAsync(t->y.ptr, y, sizeof(float) * c.batch * c.outputs, cudaMemcpyHostToDevice, t->stream),
          "cudaMemcpy(y)");
    for (int s = 0; s < steps; ++s) {
      t->gradients();
      if (s == steps - 1 && loss != nullptr) *loss = t->readLoss();  // before the update: synchronises
      if (apply != 0) t->adam();
    }
    check(cudaStreamSynchronize(t->stream), "step");
    return 0;
  } catch (const std::exception& ex) {
    return fail(err, err_len, ex.what());
  }
}

extern "C" int st_trainer_read(st_trainer* t, int what, st_weights_out out, float* h_last, char* err,
                               size_t err_len) {
  try {
    check(cudaStreamSynchronize(t->stream), "read");
    const int H = t->c.units, O = t->c.outputs;
    const bool grads = what == 1;
    t->rnn->download(out, grads);
    const float* base = (grads ? t->grads.ptr : t->params.ptr) + t->rnnFloats;
    check(cudaMemcpy(out.dense_kernel, base, sizeof(float) * H * O, cudaMemcpyDeviceToHost), "cudaMemcpy");
    check(cudaMemcpy(out.dense_bias, base + static_cast<size_t>(H) * O, sizeof(float) * O, cudaMemcpyDeviceToHost),
          "cudaMemcpy");
    if (h_last != nullptr) {
      if (t->hLast == nullptr) throw CudaError("no forward has run yet");
      check(cudaMemcpy(h_last, t->hLast, sizeof(float) * t->c.batch * H, cudaMemcpyDeviceToHost), "cudaMemcpy");
    }
    return 0;
  } catch (const std::exception& ex) {
    return fail(err, err_len, ex.what());
  }
}

extern "C" void st_trainer_free(st_trainer* t) { delete t; }
