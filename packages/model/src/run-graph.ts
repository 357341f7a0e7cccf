/**
 * A forward pass of a functional model on concrete tensors with every layer node applied once.
 *
 * tfjs-layers' own `model.apply` / `predict` / `fit` (its executor) walks the graph by output
 * tensor, not by layer call: a layer whose outputs are used separately runs once per used output.
 * A seq2seq encoder returning [sequence, h, c] ran three times per pass, a bidirectional one five
 * times (and its dropout drew masks each time). This runner walks the graph's nodes by depth and
 * applies each once, otherwise exactly as the executor does: the same `layer.apply` path with the
 * inputs as an array, the same kwargs object (training flag, and the input mask set when there is
 * one, carried to later layers as tfjs carries it), the same output masks.
 */
import type * as tf from '@tensorflow/tfjs';

interface GraphNode {
  outboundLayer: tf.layers.Layer;
  inputTensors: tf.SymbolicTensor[];
  outputTensors: tf.SymbolicTensor[];
}

interface Graph {
  inputs: tf.SymbolicTensor[];
  outputs: tf.SymbolicTensor[];
  nodesByDepth: Record<string, GraphNode[]>;
}

export function runGraph(
  model: tf.LayersModel,
  inputs: tf.Tensor | tf.Tensor[],
  training: boolean,
): tf.Tensor | tf.Tensor[] {
  const graph = model as unknown as Graph;
  const given = Array.isArray(inputs) ? inputs : [inputs];
  if (given.length !== graph.inputs.length) {
    throw new Error(`model ${model.name} takes ${graph.inputs.length} inputs, got ${given.length}`);
  }
  const values = new Map<number, tf.Tensor>();
  const masks = new Map<number, tf.Tensor | null>();
  graph.inputs.forEach((s, i) => {
    values.set(s.id, given[i]!);
    masks.set(s.id, null);
  });
  const kwargs: Record<string, unknown> = { training };
  const depths = Object.keys(graph.nodesByDepth)
    .map(Number)
    .sort((a, b) => b - a);
  for (const depth of depths) {
    for (const node of graph.nodesByDepth[String(depth)] ?? []) {
      const layer = node.outboundLayer;
      if (layer.getClassName() === 'InputLayer') continue;
      const inputValues = node.inputTensors.map((s) => {
        const v = values.get(s.id);
        if (v === undefined) throw new Error(`${layer.name}: input ${s.name} not computed yet`);
        return v;
      });
      const inputMasks = node.inputTensors.map((s) => masks.get(s.id) ?? null);
      if (inputMasks.some((m) => m !== null)) kwargs.mask = inputMasks[0];
      const out = layer.apply(inputValues, kwargs) as tf.Tensor | tf.Tensor[];
      const outputs = Array.isArray(out) ? out : [out];
      const outputMask = layer.supportsMasking
        ? (layer.computeMask(inputValues, inputMasks as tf.Tensor[]) as tf.Tensor | tf.Tensor[] | null)
        : null;
      node.outputTensors.forEach((s, i) => {
        const v = outputs[i];
        if (v === undefined)
          throw new Error(`${layer.name}: returned ${outputs.length} outputs, its node has more`);
        values.set(s.id, v);
        masks.set(s.id, Array.isArray(outputMask) ? (outputMask[0] ?? null) : outputMask);
      });
    }
  }
  const result = graph.outputs.map((s) => {
    const v = values.get(s.id);
    if (v === undefined) throw new Error(`model ${model.name}: output ${s.name} was not computed`);
    return v;
  });
  return result.length === 1 ? result[0]! : result;
}
