/** The OpenAPI 3.1 description served at /openapi.json. Kept by hand beside the routes it describes. */
const name = {
  name: 'name',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,62}$' },
};
const version = { name: 'version', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } };
const alias = {
  name: 'alias',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^[a-z][a-z0-9._-]{0,62}$' },
};
const file = {
  name: 'file',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' },
};
const errors = {
  '400': { description: 'malformed name, version or body' },
  '401': { description: 'missing or unknown bearer token' },
  '403': { description: 'token lacks the required scope' },
  '404': { description: 'no such model, version, alias or file' },
};
const json = (description: string) => ({ description, content: { 'application/json': {} } });
const binary = (description: string) => ({
  description,
  headers: { ETag: { schema: { type: 'string' } }, 'Cache-Control': { schema: { type: 'string' } } },
  content: { 'application/octet-stream': {} },
});

export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: { title: 'seqtrain model registry', version: '1.0.0' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths: {
      '/v1/models': { get: { summary: 'list models', responses: { '200': json('models'), ...errors } } },
      '/v1/models/{name}': {
        get: {
          summary: 'versions and aliases',
          parameters: [name],
          responses: { '200': json('model'), ...errors },
        },
      },
      '/v1/models/{name}/versions/{version}': {
        get: {
          summary: 'model card (immutable)',
          parameters: [name, version],
          responses: { '200': json('card'), '304': { description: 'not modified' }, ...errors },
        },
      },
      '/v1/models/{name}/versions/{version}/model.json': {
        get: {
          summary: 'tfjs LayersModel topology + weights manifest (immutable)',
          parameters: [name, version],
          responses: { '200': json('model.json'), '304': { description: 'not modified' }, ...errors },
        },
      },
      '/v1/models/{name}/versions/{version}/{file}': {
        get: {
          summary: 'weight shard (immutable)',
          parameters: [name, version, file],
          responses: { '200': binary('weights'), '304': { description: 'not modified' }, ...errors },
        },
      },
      '/v1/models/{name}/aliases/{alias}': {
        get: {
          summary: 'card of the version the alias points to',
          parameters: [name, alias],
          responses: { '200': json('card'), ...errors },
        },
        post: {
          summary: 'move the alias (write scope)',
          parameters: [name, alias],
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['reason'],
                  additionalProperties: false,
                  properties: {
                    kind: { enum: ['promote', 'rollback'] },
                    version: { type: 'integer', minimum: 1 },
                    reason: { type: 'string' },
                    actor: { type: 'string' },
                    workflowId: { type: 'string' },
                    expectedFrom: { type: ['integer', 'null'] },
                  },
                },
              },
            },
          },
          responses: { '200': json('the alias event'), ...errors, '413': { description: 'body too large' } },
        },
      },
      '/v1/models/{name}/aliases/{alias}/history': {
        get: {
          summary: 'alias events; with ?at=ISO-TIME the version the alias pointed to then',
          parameters: [
            name,
            alias,
            { name: 'at', in: 'query', required: false, schema: { type: 'string', format: 'date-time' } },
          ],
          responses: { '200': json('events'), ...errors },
        },
      },
      '/v1/models/{name}/aliases/{alias}/{file}': {
        get: {
          summary: 'model.json or weight shard of the aliased version (short cache)',
          parameters: [name, alias, file],
          responses: { '200': binary('file'), ...errors },
        },
      },
    },
  };
}
