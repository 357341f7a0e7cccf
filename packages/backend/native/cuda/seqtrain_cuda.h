// seqtrain's CUDA kernels: a plain C API (the Node-API wrapper napi_cuda.cc is one caller).
//
// A trainer holds one recurrent layer (LSTM or GRU, returning its last state), a Dense head and an
// MSE loss, with every weight, gradient and Adam moment resident on the GPU between steps: a step
// sends x and y to the device and, when asked, brings back one float (the loss).
//
// Layouts are Keras/tfjs's, row-major float32: kernel [F, G*H], recurrentKernel [H, G*H], bias
// [G*H] (G = 4, gates i, f, c, o for LSTM; G = 3, gates z, r, h for GRU), denseKernel [H, O],
// denseBias [O]; x [B, T, F] batch-major, y [B, O]; lengths [B] (right-padded sequences: steps at
// and after lengths[b] are masked, Keras-style: the state is carried through them) or NULL.
//
// LSTM runs on cuDNN's RNN API (CUDNN_LSTM, padded batch-major layout). GRU runs on cuBLAS and
// small kernels, because tfjs-layers' GRU is the reset-before variant (hh = tanh(x Wh + (r * h) Uh
// + bh), one bias; tfjs-layers rejects reset_after=true), and cuDNN's CUDNN_GRU computes the
// reset-after one (hh = tanh(x Wh + bWh + r * (h Uh + bRh))): they differ whenever r != 1.
#ifndef SEQTRAIN_CUDA_H
#define SEQTRAIN_CUDA_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ST_CUDA_ABI 1

typedef enum { ST_LSTM = 0, ST_GRU = 1 } st_cell;

typedef struct {
  st_cell cell;
  int batch, time_steps, inputs, units, outputs;
  float learning_rate, beta1, beta2, epsilon;
  /** 0: FMA only (fp32 exact products); 1: tensor cores with TF32 allowed */
  int tf32;
} st_config;

typedef struct {
  const float* kernel;
  const float* recurrent_kernel;
  const float* bias;
  const float* dense_kernel;
  const float* dense_bias;
} st_weights_in;

typedef struct {
  float* kernel;
  float* recurrent_kernel;
  float* bias;
  float* dense_kernel;
  float* dense_bias;
} st_weights_out;

typedef struct st_trainer st_trainer;

/** Every function returns 0 on success, else writes a message into err (err_len bytes) and returns 1. */
int st_probe(char* device, size_t device_len, int* cc_major, int* cc_minor, size_t* memory_bytes, int* cudnn_version,
             int* runtime_version, int* driver_version, char* err, size_t err_len);

int st_trainer_create(const st_config* config, st_weights_in weights, st_trainer** out, char* err, size_t err_len);

/**
 * `steps` steps on one batch. apply = 1: each step is forward, backward and an Adam update;
 * apply = 0 (steps must be 1): forward and backward only, the gradients kept for st_trainer_read.
 * loss (may be NULL: no synchronisation with the device) receives the last step's loss before its
 * update.
 */
int st_trainer_run(st_trainer* t, const float* x, const float* y, const int* lengths, int steps, int apply,
                   float* loss, char* err, size_t err_len);

/** what = 0: weights; 1: the last gradients; h_last (may be NULL) gets the last state [B, H]. */
int st_trainer_read(st_trainer* t, int what, st_weights_out out, float* h_last, char* err, size_t err_len);

void st_trainer_free(st_trainer* t);

#ifdef __cplusplus
}
#endif

#endif
