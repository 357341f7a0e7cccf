export { DataPlaneServer, dialPeer, parseAddress } from './server';
export type { AcceptOptions, DialOptions, LinkSettings, ServerLog } from './server';
export { FramedSocket } from './link';
export type { ReceiveOptions } from './link';
export { encodeFrame, FrameReader, FrameType, PREFIX_BYTES } from './frames';
export type { Frame, FrameLimits, FrameTypeName } from './frames';
export { PROTOCOL, helloProof, judgeHello } from './handshake';
export type { SessionKey, Hello, RefuseCode } from './handshake';
