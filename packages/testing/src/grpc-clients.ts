import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { credentials, loadPackageDefinition, type Metadata, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

const require = createRequire(import.meta.url);

/* eslint-disable @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-explicit-any --
   The standard health and reflection protos are loaded at run time, so their clients are untyped;
   these two functions are the only place that touches them and they return typed results. */

/** Calls grpc.health.v1.Health/Check (no token) and returns the serving status name. */
export async function healthCheck(address: string, service: string): Promise<string> {
  const definition = loadSync(require.resolve('grpc-health-check/proto/health/v1/health.proto'), { enums: String });
  const Health = (loadPackageDefinition(definition) as any).grpc.health.v1.Health;
  const client = new Health(address, credentials.createInsecure());
  try {
    return await new Promise<string>((resolve, reject) =>
      client.check({ service }, (err: ServiceError | null, res: { status: string }) =>
        err ? reject(err) : resolve(res.status),
      ),
    );
  } finally {
    client.close();
  }
}

/** Asks grpc.reflection.v1 for the list of services, sending `metadata` (e.g. the admin token). */
export async function reflectionListServices(address: string, metadata: Metadata): Promise<string[]> {
  const protoPath = join(dirname(require.resolve('@grpc/reflection')), '../proto/grpc/reflection/v1/reflection.proto');
  const Reflection = (loadPackageDefinition(loadSync(protoPath)) as any).grpc.reflection.v1.ServerReflection;
  const client = new Reflection(address, credentials.createInsecure());
  try {
    return await new Promise<string[]>((resolve, reject) => {
      const call = client.ServerReflectionInfo(metadata);
      call.on('data', (res: { listServicesResponse?: { service: { name: string }[] } }) => {
        resolve(res.listServicesResponse?.service.map((s) => s.name) ?? []);
        call.end();
      });
      call.on('error', (err: Error) => reject(err));
      call.write({ listServices: '' });
    });
  } finally {
    client.close();
  }
}
/* eslint-enable @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-explicit-any */
