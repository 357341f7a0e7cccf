/**
 * Direct calls into libtensorflow's kernels through tfjs-node's backend, for the fused recurrent ops
 * that tfjs does not expose (BlockLSTMV2, GRUBlockCell, TanhGrad and their gradients).
 */
import { SeqtrainError } from '@seqtrain/contracts';
import type { Tensor } from '@tensorflow/tfjs';
import type { Tf } from '../init-backend';

interface Binding {
  TF_FLOAT: number;
  TF_INT64: number;
  TF_ATTR_FLOAT: number;
  TF_ATTR_BOOL: number;
  TF_ATTR_TYPE: number;
  createTensor(shape: number[], dtype: number, values: Int32Array): number;
}

export interface OpAttr {
  name: string;
  type: number;
  value: number | boolean;
}

/** The parts of tfjs-node's NodeJSKernelBackend used here (not in its public typings). */
interface NodeBackend {
  binding: Binding;
  tensorMap: { set(dataId: object, info: Record<string, unknown>): void };
  executeMultipleOutputs(name: string, attrs: OpAttr[], inputs: Tensor[], numOutputs: number): Tensor[];
}

export class TensorflowOps {
  private readonly backend: NodeBackend;
  /** int64 scalars by value, created once: tfjs-node's Int64Scalar leaks one native handle per use. */
  private readonly int64 = new Map<number, Tensor>();

  constructor(private readonly tf: Tf) {
    const backend = tf.findBackend('tensorflow') as unknown as Partial<NodeBackend> | null;
    if (backend?.binding === undefined || typeof backend.executeMultipleOutputs !== 'function') {
      throw new SeqtrainError(
        `fused recurrent kernels need the tfjs-node backend (the active backend is ${tf.getBackend()})`,
      );
    }
    this.backend = backend as NodeBackend;
  }

  run(name: string, inputs: Tensor[], numOutputs: number, attrs: OpAttr[] = []): Tensor[] {
    return this.backend.executeMultipleOutputs(name, [...attrs, this.floatType()], inputs, numOutputs);
  }

  floatAttr(name: string, value: number): OpAttr {
    return { name, type: this.backend.binding.TF_ATTR_FLOAT, value };
  }

  boolAttr(name: string, value: boolean): OpAttr {
    return { name, type: this.backend.binding.TF_ATTR_BOOL, value };
  }

  /**
   * A kept int64 scalar. tfjs has no int64 dtype, so the handle is registered with the backend
   * directly and shows up as one int32 tensor per distinct value in tf.memory().
   */
  int64Scalar(value: number): Tensor {
    const cached = this.int64.get(value);
    if (cached !== undefined && !cached.isDisposed) return cached;
    const { binding, tensorMap } = this.backend;
    const id = binding.createTensor([], binding.TF_INT64, new Int32Array([value, 0]));
    const dataId = {};
    tensorMap.set(dataId, { shape: [], dtype: binding.TF_INT64, id, values: null, refCount: 1 });
    const t = this.tf.keep(this.tf.engine().makeTensorFromTensorInfo({ dataId, shape: [], dtype: 'int32' }));
    this.int64.set(value, t);
    return t;
  }

  private floatType(): OpAttr {
    return { name: 'T', type: this.backend.binding.TF_ATTR_TYPE, value: this.backend.binding.TF_FLOAT };
  }
}
