// Shared between rnn_cudnn.cu (trainer, LSTM on cuDNN, head, Adam) and gru_cublas.cu (GRU).
#ifndef SEQTRAIN_RNN_INTERNAL_H
#define SEQTRAIN_RNN_INTERNAL_H

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "seqtrain_cuda.h"

namespace seqtrain {

struct CudaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void check(cudaError_t e, const char* what);
void check(cublasStatus_t s, const char* what);

// Row-major C[m, n] = alpha * op(A)[m, k] @ op(B)[k, n] + beta * C, on cuBLAS's column-major GEMM.
void gemm(cublasHandle_t h, int m, int n, int k, const float* A, int lda, bool transA, const float* B, int ldb,
          bool transB, float* C, int ldc, float alpha, float beta);

// One recurrent layer returning its last state; parameters and gradients live at fixed device
// addresses inside the trainer's flat buffers, so that one Adam kernel updates everything.
struct Recurrent {
  virtual ~Recurrent() = default;
  // floats this layer needs in the flat parameter (and gradient) buffer
  virtual size_t paramFloats() const = 0;
  // called once with its slices of the flat buffers
  virtual void bind(float* params, float* grads) = 0;
  virtual void upload(const st_weights_in& w) = 0;
  virtual void download(st_weights_out& w, bool grads) = 0;
  // x [B, T, F] on the device; lengths on the host and the device (both null: all T)
  virtual void setLengths(const int* hostLengths) = 0;
  virtual const float* forward(const float* x) = 0;  // returns h_last [B, H] (device)
  // dh_last [B, H] (device) -> gradients added into the grads slice (zeroed by the trainer)
  virtual void backward(const float* x, const float* dhLast) = 0;
};

Recurrent* makeGru(const st_config& c, cublasHandle_t blas, cudaStream_t stream);

}  // namespace seqtrain

#endif
