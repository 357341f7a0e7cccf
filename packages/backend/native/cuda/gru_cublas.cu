// GRU as tfjs-layers computes it (reset before the product, one bias), on cuBLAS and small kernels:
//   z = s(x Wz + h Uz + bz), r = s(x Wr + h Ur + br), hh = tanh(x Wh + (r * h) Uh + bh),
//   h' = z * h + (1 - z) * hh.
// This is the formula of packages/backend/native/rnn_kernels.cc and of tfjs-layers' GRUCell. cuDNN's
// CUDNN_GRU is the reset-after variant (r multiplies h Uh + b_Rh), so it cannot be used here.
//
// As in the CPU kernels, every product that does not depend on the recurrence is one large GEMM
// per sequence (x W for all steps; the weight gradients; the bias gradient), and only h Uzr,
// (r h) Uh and their transposes stay in the time loop. Internally time-major: xT [T, B, F], gates
// [T, B, 3H] (z, r activated, hh), states [T + 1, B, H] (h0 = 0). Masked steps (t >= lengths[b])
// carry the state and have zero gate gradients, as Keras masking does.
#include "rnn_internal.h"

namespace seqtrain {

namespace {

__device__ float sigmoidf(float v) { return 1.0f / (1.0f + expf(-v)); }

// x [B, T, F] -> xT [T, B, F]
__global__ void toTimeMajor(const float* x, float* xT, int B, int T, int F) {
  const size_t n = static_cast<size_t>(B) * T * F;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const size_t f = i % F, bt = i / F, t = bt % T, b = bt / T;
    xT[(t * B + b) * F + f] = x[i];
  }
}

__global__ void addBias(float* g, const float* bias, size_t rows, int width) {
  const size_t n = rows * width;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    g[i] += bias[i % width];
}

// gates[b, 0:2H] = s(gates + hu); rh = r * h
__global__ void gatesZR(float* gates, const float* hu, const float* h, float* rh, int B, int H) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= B * H) return;
  const int b = i / H, j = i % H;
  float* g = gates + static_cast<size_t>(b) * 3 * H;
  const float* u = hu + static_cast<size_t>(b) * 2 * H;
  const float z = sigmoidf(g[j] + u[j]);
  const float r = sigmoidf(g[H + j] + u[H + j]);
  g[j] = z;
  g[H + j] = r;
  rh[i] = r * h[i];
}

// hh = tanh(gates_h + rhu); h' = z h + (1 - z) hh, or h where masked
__global__ void gatesOut(float* gates, const float* rhu, const float* h, float* hNext, const int* lengths, int t,
                         int B, int H) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= B * H) return;
  const int b = i / H, j = i % H;
  float* g = gates + static_cast<size_t>(b) * 3 * H;
  const float hh = tanhf(g[2 * H + j] + rhu[i]);
  g[2 * H + j] = hh;
  const float z = g[j];
  hNext[i] = t < lengths[b] ? z * h[i] + (1.0f - z) * hh : h[i];
}

// dGz, dGh and the direct part of dh_prev; masked: zero gate gradients, dh passes through
__global__ void backZH(const float* gates, const float* h, const float* dh, float* dG, float* dhPrev,
                       const int* lengths, int t, int B, int H) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= B * H) return;
  const int b = i / H, j = i % H;
  const float* g = gates + static_cast<size_t>(b) * 3 * H;
  float* d = dG + static_cast<size_t>(b) * 3 * H;
  if (t >= lengths[b]) {
    d[j] = 0.0f;
    d[H + j] = 0.0f;
    d[2 * H + j] = 0.0f;
    dhPrev[i] = dh[i];
    return;
  }
  const float z = g[j], hh = g[2 * H + j], hp = h[i], dhi = dh[i];
  d[2 * H + j] = dhi * (1.0f - z) * (1.0f - hh * hh);
  d[j] = dhi * (hp - hh) * z * (1.0f - z);
  dhPrev[i] = dhi * z;
}

// d(rh) -> dGr and the r part of dh_prev
__global__ void backR(const float* gates, const float* h, const float* drh, float* dG, float* dhPrev,
                      const int* lengths, int t, int B, int H) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= B * H) return;
  const int b = i / H, j = i % H;
  if (t >= lengths[b]) return;
  const float r = gates[static_cast<size_t>(b) * 3 * H + H + j];
  dG[static_cast<size_t>(b) * 3 * H + H + j] = drh[i] * h[i] * r * (1.0f - r);
  dhPrev[i] += drh[i] * r;
}

__global__ void fill(float* p, size_t n, float value) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    p[i] = value;
}

struct Buf {
  float* p = nullptr;
  void alloc(size_t n, const char* what) { check(cudaMalloc(reinterpret_cast<void**>(&p), n * sizeof(float)), what); }
  ~Buf() {
    if (p != nullptr) cudaFree(p);
  }
};

class CublasGru final : public Recurrent {
 public:
  CublasGru(const st_config& c, cublasHandle_t blas, cudaStream_t stream)
      : B_(c.batch), T_(c.time_steps), F_(c.inputs), H_(c.units), blas_(blas), stream_(stream) {
    const size_t TB = static_cast<size_t>(T_) * B_;
    xT_.alloc(TB * F_, "cudaMalloc(xT)");
    gates_.alloc(TB * 3 * H_, "cudaMalloc(gates)");
    dG_.alloc(TB * 3 * H_, "cudaMalloc(dG)");
    hs_.alloc((TB + B_) * H_, "cudaMalloc(states)");
    rh_.alloc(TB * H_, "cudaMalloc(rh)");
    hu_.alloc(static_cast<size_t>(B_) * 2 * H_, "cudaMalloc(hu)");
    rhu_.alloc(static_cast<size_t>(B_) * H_, "cudaMalloc(rhu)");
    dh_.alloc(static_cast<size_t>(B_) * H_, "cudaMalloc(dh)");
    dhPrev_.alloc(static_cast<size_t>(B_) * H_, "cudaMalloc(dhPrev)");
    drh_.alloc(static_cast<size_t>(B_) * H_, "cudaMalloc(drh)");
    ones_.alloc(TB, "cudaMalloc(ones)");
    fill<<<256, 256, 0, stream_>>>(ones_.p, TB, 1.0f);
    check(cudaMemsetAsync(hs_.p, 0, sizeof(float) * B_ * H_, stream_), "cudaMemset(h0)");
    check(cudaMalloc(reinterpret_cast<void**>(&lengths_), sizeof(int) * B_), "cudaMalloc(lengths)");
    setLengths(nullptr);
  }

  ~CublasGru() override {
    if (lengths_ != nullptr) cudaFree(lengths_);
  }

  size_t paramFloats() const override {
    const size_t n = static_cast<size_t>(F_) * 3 * H_ + static_cast<size_t>(H_) * 3 * H_ + 3 * H_;
    return (n + 63) / 64 * 64;
  }

  // Keras layout as it is: W [F, 3H], U [H, 3H], b [3H].
  void bind(float* params, float* grads) override {
    W_ = params;
    U_ = W_ + static_cast<size_t>(F_) * 3 * H_;
    b_ = U_ + static_cast<size_t>(H_) * 3 * H_;
    dW_ = grads;
    dU_ = dW_ + static_cast<size_t>(F_) * 3 * H_;
    db_ = dU_ + static_cast<size_t>(H_) * 3 * H_;
  }

  void upload(const st_weights_in& w) override {
    const size_t G = 3 * static_cast<size_t>(H_);
    check(cudaMemcpy(W_, w.kernel, sizeof(float) * F_ * G, cudaMemcpyHostToDevice), "cudaMemcpy(kernel)");
    check(cudaMemcpy(U_, w.recurrent_kernel, sizeof(float) * H_ * G, cudaMemcpyHostToDevice), "cudaMemcpy");
    if (w.bias != nullptr)
      check(cudaMemcpy(b_, w.bias, sizeof(float) * G, cudaMemcpyHostToDevice), "cudaMemcpy(bias)");
    else
      check(cudaMemset(b_, 0, sizeof(float) * G), "cudaMemset(bias)");
  }

  void download(st_weights_out& w, bool grads) override {
    const size_t G = 3 * static_cast<size_t>(H_);
    check(cudaMemcpy(w.kernel, grads ? dW_ : W_, sizeof(float) * F_ * G, cudaMemcpyDeviceToHost), "cudaMemcpy");
    check(cudaMemcpy(w.recurrent_kernel, grads ? dU_ : U_, sizeof(float) * H_ * G, cudaMemcpyDeviceToHost),
          "cudaMemcpy");
    check(cudaMemcpy(w.bias, grads ? db_ : b_, sizeof(float) * G, cudaMemcpyDeviceToHost), "cudaMemcpy");
  }

  void setLengths(const int* hostLengths) override {
    std::vector<int> l(B_, T_);
    if (hostLengths != nullptr) {
      for (int b = 0; b < B_; ++b) {
        if (hostLengths[b] < 0 || hostLengths[b] > T_)
          throw CudaError("lengths[" + std::to_string(b) + "] is outside 0.." + std::to_string(T_));
        l[b] = hostLengths[b];
      }
    }
    check(cudaMemcpyAsync(lengths_, l.data(), sizeof(int) * B_, cudaMemcpyHostToDevice, stream_),
          "cudaMemcpy(lengths)");
    check(cudaStreamSynchronize(stream_), "lengths");  // l is a stack vector
  }

  const float* forward(const float* x) override {
    const int B = B_, T = T_, F = F_, H = H_, G = 3 * H;
    const size_t TB = static_cast<size_t>(T) * B;
    const int blocks = (B * H + 255) / 256;
    toTimeMajor<<<1024, 256, 0, stream_>>>(x, xT_.p, B, T, F);
    gemm(blas_, static_cast<int>(TB), G, F, xT_.p, F, false, W_, G, false, gates_.p, G, 1.0f, 0.0f);
    addBias<<<1024, 256, 0, stream_>>>(gates_.p, b_, TB, G);
    for (int t = 0; t < T; ++t) {
      float* g = gates_.p + static_cast<size_t>(t) * B * G;
      const float* h = hs_.p + static_cast<size_t>(t) * B * H;
      float* rh = rh_.p + static_cast<size_t>(t) * B * H;
      gemm(blas_, B, 2 * H, H, h, H, false, U_, G, false, hu_.p, 2 * H, 1.0f, 0.0f);
      gatesZR<<<blocks, 256, 0, stream_>>>(g, hu_.p, h, rh, B, H);
      gemm(blas_, B, H, H, rh, H, false, U_ + 2 * H, G, false, rhu_.p, H, 1.0f, 0.0f);
      gatesOut<<<blocks, 256, 0, stream_>>>(g, rhu_.p, h, hs_.p + static_cast<size_t>(t + 1) * B * H, lengths_, t,
                                            B, H);
    }
    check(cudaGetLastError(), "GRU forward kernels");
    return hs_.p + TB * H;
  }

  void backward(const float*, const float* dhLast) override {
    const int B = B_, T = T_, F = F_, H = H_, G = 3 * H;
    const size_t TB = static_cast<size_t>(T) * B;
    const int blocks = (B * H + 255) / 256;
    check(cudaMemcpyAsync(dh_.p, dhLast, sizeof(float) * B * H, cudaMemcpyDeviceToDevice, stream_), "cudaMemcpy(dh)");
    for (int t = T - 1; t >= 0; --t) {
      const float* g = gates_.p + static_cast<size_t>(t) * B * G;
      float* dG = dG_.p + static_cast<size_t>(t) * B * G;
      const float* h = hs_.p + static_cast<size_t>(t) * B * H;
      backZH<<<blocks, 256, 0, stream_>>>(g, h, dh_.p, dG, dhPrev_.p, lengths_, t, B, H);
      // d(rh) = dGh Uh^T
      gemm(blas_, B, H, H, dG + 2 * H, G, false, U_ + 2 * H, G, true, drh_.p, H, 1.0f, 0.0f);
      backR<<<blocks, 256, 0, stream_>>>(g, h, drh_.p, dG, dhPrev_.p, lengths_, t, B, H);
      // dh_prev += [dGz, dGr] Uzr^T
      gemm(blas_, B, H, 2 * H, dG, G, false, U_, G, true, dhPrev_.p, H, 1.0f, 1.0f);
      std::swap(dh_.p, dhPrev_.p);
    }
    check(cudaGetLastError(), "GRU backward kernels");
    const int rows = static_cast<int>(TB);
    // dW = xT^T dG; dUzr = H^T dGzr; dUh = (r h)^T dGh; db = 1^T dG (added into the zeroed grads)
    gemm(blas_, F, G, rows, xT_.p, F, true, dG_.p, G, false, dW_, G, 1.0f, 1.0f);
    gemm(blas_, H, 2 * H, rows, hs_.p, H, true, dG_.p, G, false, dU_, G, 1.0f, 1.0f);
    gemm(blas_, H, H, rows, rh_.p, H, true, dG_.p + 2 * H, G, false, dU_ + 2 * H, G, 1.0f, 1.0f);
    gemm(blas_, 1, G, rows, ones_.p, rows, false, dG_.p, G, false, db_, G, 1.0f, 1.0f);
  }

 private:
  int B_, T_, F_, H_;
  cublasHandle_t blas_;
  cudaStream_t stream_;
  float *W_ = nullptr, *U_ = nullptr, *b_ = nullptr, *dW_ = nullptr, *dU_ = nullptr, *db_ = nullptr;
  int* lengths_ = nullptr;
  Buf xT_, gates_, dG_, hs_, rh_, hu_, rhu_, dh_, dhPrev_, drh_, ones_;
};

}  // namespace

Recurrent* makeGru(const st_config& c, cublasHandle_t blas, cudaStream_t stream) {
  return new CublasGru(c, blas, stream);
}

}  // namespace seqtrain
