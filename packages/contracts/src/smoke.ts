/** The smoke workflow's payloads: proves Temporal -> worker -> S3 end to end. */
import { z } from 'zod';

export const SmokeInputSchema = z.object({ key: z.string().min(1), text: z.string() });
export type SmokeInput = z.infer<typeof SmokeInputSchema>;
export interface SmokeResult {
  key: string;
  bytes: number;
  readBack: string;
  sha256: string;
}
