/**
 * tfjs-layers 4.22 bug: when a functional model runs, the executor hands the SAME kwargs object to
 * every layer, and RNN.apply writes `kwargs.initialState` into it. The next RNN layer that also
 * receives initial states as inputs then fails with "When inputs is an array, neither initialState
 * or constants should be provided". Giving each RNN call its own copy of kwargs fixes stacked
 * decoders and conditioned generators, for models built here and models loaded from model.json,
 * in this process. (A plain tf.loadLayersModel elsewhere is only affected by models with more than
 * one state-initialised RNN layer.)
 */
import * as tf from '@tensorflow/tfjs';

const PATCHED = Symbol.for('seqtrain.rnnKwargsPatch');

export function patchRnnKwargs(): void {
  const probe = tf.layers.simpleRNN({ units: 1 });
  const rnnProto = Object.getPrototypeOf(Object.getPrototypeOf(probe)) as Record<PropertyKey, unknown>;
  if (rnnProto[PATCHED]) return;
  const original = rnnProto.apply as (
    this: unknown,
    inputs: unknown,
    kwargs?: Record<string, unknown>,
  ) => unknown;
  rnnProto.apply = function (this: unknown, inputs: unknown, kwargs?: Record<string, unknown>): unknown {
    return original.call(this, inputs, kwargs == null ? kwargs : { ...kwargs });
  };
  rnnProto[PATCHED] = true;
}
