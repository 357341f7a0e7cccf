/**
 * Model spec + task + dataset signature -> two tfjs LayersModels sharing one set of weights:
 * `trainModel` ends in logits (losses are computed from logits for numerical stability) and
 * `model` ends in probabilities (what is saved, served and loaded with tf.loadLayersModel).
 * Layer names are explicit so that weight names and order are stable across processes.
 */
import * as tf from '@tensorflow/tfjs';
import { canonicalJson, type DatasetSignature, type ModelSpec, type Task } from '@seqtrain/contracts';
import { sha256Hex } from '@seqtrain/storage';
import { initialWeights } from './init-weights';
import { mixSeed } from './seeded';
import { patchRnnKwargs } from './tfjs-patches';
import { validateDefinition } from './validate';

export interface ModelDefinition {
  task: Task;
  model: ModelSpec;
  signature: DatasetSignature;
  seed: number;
}

export interface WeightSpec {
  /** stable name (layer/weight), as written in model.json */
  name: string;
  shape: number[];
  size: number;
  /** offset in the flat weight buffer */
  offset: number;
}

export interface SeqModel {
  readonly definition: ModelDefinition;
  /** sha256 of the architecture (task, model spec, signature); checkpoints carry it */
  readonly specHash: string;
  readonly model: tf.LayersModel;
  readonly trainModel: tf.LayersModel;
  readonly weightSpecs: readonly WeightSpec[];
  /** number of float32 parameters */
  readonly size: number;
  /** seeds the dropout masks of the next forward pass (see gradients.ts) */
  setDropoutSeed(seed: number): void;
  dispose(): void;
}

type RnnLayer = ReturnType<typeof tf.layers.lstm>;

export function specHashOf(def: Pick<ModelDefinition, 'task' | 'model' | 'signature'>): string {
  return sha256Hex(canonicalJson({ task: def.task, model: def.model, signature: def.signature }));
}

class Builder {
  private dropoutSeed = 0;
  private dropoutCalls = 0;
  /** inverted dropout with a mask drawn from (seed, call index): the same batch gives the same masks everywhere */
  readonly dropoutFunc = (x: tf.Tensor, rate: number): tf.Tensor =>
    tf.tidy(() => {
      const seed = mixSeed(this.dropoutSeed, this.dropoutCalls++);
      const keep = tf.greaterEqual(tf.randomUniform(x.shape, 0, 1, 'float32', seed), rate);
      return tf.div(tf.mul(x, tf.cast(keep, 'float32')), 1 - rate);
    });

  constructor(readonly spec: ModelSpec) {}

  setSeed(seed: number): void {
    this.dropoutSeed = seed;
    this.dropoutCalls = 0;
  }

  rnn(name: string, units: number, opts: { returnSequences: boolean; returnState?: boolean }): RnnLayer {
    const { cell, dropout, recurrentDropout } = this.spec;
    const args = {
      units,
      name,
      returnSequences: opts.returnSequences,
      returnState: opts.returnState ?? false,
      dropout,
      recurrentDropout,
      dropoutFunc: this.dropoutFunc,
      // initial values are written by initialWeights(); zeros keep tfjs from drawing unseeded numbers
      kernelInitializer: 'zeros' as const,
      recurrentInitializer: 'zeros' as const,
      biasInitializer: 'zeros' as const,
    };
    switch (cell) {
      case 'lstm':
        return tf.layers.lstm({ ...args, recurrentActivation: 'sigmoid', unitForgetBias: false });
      case 'gru':
        // tfjs-layers 4.22 implements only resetAfter=false (bias [3*units]); see README in index.ts.
        return tf.layers.gru({ ...args, recurrentActivation: 'sigmoid' });
      case 'simpleRNN':
        return tf.layers.simpleRNN(args);
      default: {
        const never: never = cell;
        throw new Error(`unknown cell ${String(never)}`);
      }
    }
  }

  /** Optionally bidirectional; the backward copy is rebuilt from config by tfjs, so it gets the seeded dropout back here. */
  wrap(layer: RnnLayer, name: string): tf.layers.Layer {
    if (!this.spec.bidirectional) return layer;
    const bi = tf.layers.bidirectional({ layer, mergeMode: 'concat', name });
    const inner = bi as unknown as {
      forwardLayer: { cell: { dropoutFunc: unknown } };
      backwardLayer: { cell: { dropoutFunc: unknown } };
    };
    inner.forwardLayer.cell.dropoutFunc = this.dropoutFunc;
    inner.backwardLayer.cell.dropoutFunc = this.dropoutFunc;
    return bi;
  }

  dense(name: string, units: number, activation?: 'tanh' | 'softmax'): tf.layers.Layer {
    return tf.layers.dense({
      units,
      name,
      activation: activation ?? 'linear',
      kernelInitializer: 'zeros',
      biasInitializer: 'zeros',
    });
  }

  embedding(name: string, inputDim: number, outputDim: number, maskZero: boolean): tf.layers.Layer {
    return tf.layers.embedding({ inputDim, outputDim, maskZero, name, embeddingsInitializer: 'zeros' });
  }
}

type Sym = tf.SymbolicTensor;
const apply1 = (layer: tf.layers.Layer, x: Sym | Sym[], kwargs?: Record<string, unknown>): Sym =>
  layer.apply(x, kwargs) as Sym;
const applyN = (layer: tf.layers.Layer, x: Sym | Sym[], kwargs?: Record<string, unknown>): Sym[] =>
  layer.apply(x, kwargs) as Sym[];

/** dense head width, optional tanh layer, then the output projection */
function head(b: Builder, x: Sym, outUnits: number): Sym {
  const hidden = b.spec.denseUnits > 0 ? apply1(b.dense('head_hidden', b.spec.denseUnits, 'tanh'), x) : x;
  return apply1(b.dense('head_out', outUnits), hidden);
}

function stack(b: Builder, x: Sym, lastReturnsSequences: boolean, prefix: string): Sym {
  let h = x;
  b.spec.units.forEach((units, i) => {
    const seq = i < b.spec.units.length - 1 || lastReturnsSequences;
    h = apply1(
      b.wrap(b.rnn(`${prefix}${i}_${b.spec.cell}`, units, { returnSequences: seq }), `${prefix}${i}_bi`),
      h,
    );
  });
  return h;
}

function vocabSize(sig: DatasetSignature, which: 'vocab' | 'targetVocab'): number {
  const v = sig[which];
  if (!v) throw new Error(`signature.${which} missing`);
  return v.tokens.length;
}

function statesPerLayer(spec: ModelSpec): number {
  return spec.cell === 'lstm' ? 2 : 1;
}

interface Graph {
  inputs: Sym[];
  logits: Sym;
  /** the served output: logits for regression, probabilities otherwise */
  output: Sym;
}

function buildGraph(b: Builder, task: Task, sig: DatasetSignature): Graph {
  const spec = b.spec;
  switch (task) {
    case 'regression': {
      const [window, features] = sig.x.shape as [number, number];
      const input = tf.input({ shape: [window, features], dtype: 'float32', name: 'x' });
      if (sig.perStep) {
        // many-to-many aligned: one value per input step
        const seq = stack(b, input, true, 'rnn');
        const perStep = head(b, seq, 1);
        const out = apply1(tf.layers.reshape({ targetShape: [window], name: 'per_step' }), perStep);
        return { inputs: [input], logits: out, output: out };
      }
      const last = stack(b, input, false, 'rnn');
      const out = head(b, last, sig.y.shape[0]!);
      return { inputs: [input], logits: out, output: out };
    }
    case 'classification': {
      const input = tf.input({ shape: [sig.x.shape[0]!], dtype: 'int32', name: 'x' });
      const emb = apply1(b.embedding('embed_tokens', vocabSize(sig, 'vocab'), spec.embedding!, true), input);
      const logits = head(b, stack(b, emb, false, 'rnn'), sig.classes!.length);
      return {
        inputs: [input],
        logits,
        output: apply1(tf.layers.activation({ activation: 'softmax', name: 'probs' }), logits),
      };
    }
    case 'generation': {
      const len = sig.x.shape[0]!;
      const input = tf.input({ shape: [len], dtype: 'int32', name: 'x' });
      // no masking: padding only trails, the RNN is causal, and the loss ignores padded positions
      let h = apply1(b.embedding('embed_tokens', vocabSize(sig, 'vocab'), spec.embedding!, false), input);
      const inputs = [input];
      let initial: Sym[][] | undefined;
      if (sig.condition) {
        const cond = tf.input({ shape: [1], dtype: 'int32', name: 'condition' });
        inputs.push(cond);
        const n = sig.condition.numValues;
        if (spec.conditioning === 'repeat') {
          const width = spec.conditionEmbedding ?? spec.embedding!;
          const e = apply1(
            tf.layers.flatten({ name: 'cond_flat' }),
            apply1(b.embedding('embed_condition', n, width, false), cond),
          );
          const rep = apply1(tf.layers.repeatVector({ n: len, name: 'cond_repeat' }), e);
          h = apply1(tf.layers.concatenate({ axis: -1, name: 'cond_concat' }), [h, rep]);
        } else {
          initial = spec.units.map((units, i) =>
            Array.from({ length: statesPerLayer(spec) }, (_, s) =>
              apply1(
                tf.layers.flatten({ name: `cond_state${i}_${s}_flat` }),
                apply1(b.embedding(`cond_state${i}_${s}`, n, units, false), cond),
              ),
            ),
          );
        }
      }
      spec.units.forEach((units, i) => {
        const layer = b.rnn(`rnn${i}_${spec.cell}`, units, { returnSequences: true });
        h = apply1(layer, h, initial ? { initialState: initial[i] } : undefined);
      });
      const logits = head(b, h, vocabSize(sig, 'vocab'));
      return {
        inputs,
        logits,
        output: apply1(tf.layers.activation({ activation: 'softmax', name: 'probs' }), logits),
      };
    }
    case 'seq2seq': {
      const src = tf.input({ shape: [sig.x.shape[0]!], dtype: 'int32', name: 'source' });
      const dec = tf.input({ shape: [sig.y.shape[0]! - 1], dtype: 'int32', name: 'decoder_input' });
      let h = apply1(b.embedding('embed_source', vocabSize(sig, 'vocab'), spec.embedding!, true), src);
      const k = statesPerLayer(spec);
      const encStates: Sym[][] = [];
      spec.units.forEach((units, i) => {
        const layer = b.rnn(`enc${i}_${spec.cell}`, units, { returnSequences: true, returnState: true });
        const outs = applyN(b.wrap(layer, `enc${i}_bi`), h);
        h = outs[0]!;
        const states = outs.slice(1);
        if (spec.bidirectional) {
          // [fwd states..., bwd states...] -> concat per state kind, width 2*units
          encStates.push(
            Array.from({ length: k }, (_, s) =>
              apply1(tf.layers.concatenate({ axis: -1, name: `enc${i}_state${s}` }), [
                states[s]!,
                states[k + s]!,
              ]),
            ),
          );
        } else {
          encStates.push(states);
        }
      });
      let d = apply1(b.embedding('embed_target', vocabSize(sig, 'targetVocab'), spec.embedding!, false), dec);
      spec.units.forEach((units, i) => {
        const width = spec.bidirectional ? 2 * units : units;
        d = apply1(b.rnn(`dec${i}_${spec.cell}`, width, { returnSequences: true }), d, {
          initialState: encStates[i],
        });
      });
      const logits = head(b, d, vocabSize(sig, 'targetVocab'));
      return {
        inputs: [src, dec],
        logits,
        output: apply1(tf.layers.activation({ activation: 'softmax', name: 'probs' }), logits),
      };
    }
    default: {
      const never: never = task;
      throw new Error(`unknown task ${String(never)}`);
    }
  }
}

/** Builds and initialises a model from a validated spec; throws BadInputError when the spec does not fit the dataset. */
export function buildModel(spec: ModelSpec, task: Task, signature: DatasetSignature, seed: number): SeqModel {
  validateDefinition(task, spec, signature);
  patchRnnKwargs();
  const builder = new Builder(spec);
  const graph = buildGraph(builder, task, signature);
  const model = tf.model({ inputs: graph.inputs, outputs: graph.output, name: 'seqtrain' });
  const trainModel =
    graph.logits === graph.output
      ? model
      : tf.model({ inputs: graph.inputs, outputs: graph.logits, name: 'seqtrain_logits' });
  let offset = 0;
  const weightSpecs = trainModel.weights.map((w) => {
    const size = w.shape.reduce<number>((a, d) => a * (d ?? 1), 1);
    const spec_ = { name: w.originalName, shape: w.shape.map((d) => d ?? 1), size, offset };
    offset += size;
    return spec_;
  });
  const names = new Set(weightSpecs.map((w) => w.name));
  if (names.size !== weightSpecs.length) throw new Error('duplicate weight names: layer naming is broken');
  const m: SeqModel = {
    definition: { task, model: spec, signature, seed },
    specHash: specHashOf({ task, model: spec, signature }),
    model,
    trainModel,
    weightSpecs,
    size: offset,
    setDropoutSeed: (s) => builder.setSeed(s),
    dispose: () => model.dispose(),
  };
  setFlatWeights(m, initialWeights(weightSpecs, spec.cell, seed));
  return m;
}

/** All weights in fixed order (trainModel.weights), concatenated. */
export function getFlatWeights(m: SeqModel): Float32Array {
  const out = new Float32Array(m.size);
  m.trainModel.weights.forEach((w, i) => {
    const data = w.read().dataSync();
    out.set(data, m.weightSpecs[i]!.offset);
  });
  return out;
}

export function setFlatWeights(m: SeqModel, flat: Float32Array): void {
  if (flat.length !== m.size)
    throw new Error(`weight buffer has ${flat.length} floats, model needs ${m.size}`);
  m.trainModel.weights.forEach((w, i) => {
    const s = m.weightSpecs[i]!;
    const t = tf.tensor(flat.subarray(s.offset, s.offset + s.size), s.shape, 'float32');
    w.write(t);
    t.dispose();
  });
}
