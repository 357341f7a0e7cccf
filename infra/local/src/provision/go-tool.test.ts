import { describe, expect, it } from 'vitest';
import { goCommandName } from './s3-server-bin';

describe('goCommandName', () => {
  it('is the file go install writes: the last element, or the one before a major-version suffix', () => {
    expect(goCommandName('github.com/versity/versitygw/cmd/versitygw')).toBe('versitygw');
    expect(goCommandName('sigs.k8s.io/kustomize/kustomize/v5')).toBe('kustomize');
    expect(goCommandName('github.com/Shopify/toxiproxy/v2/cmd/server')).toBe('server');
    expect(goCommandName('example.com/tool')).toBe('tool');
  });
});
