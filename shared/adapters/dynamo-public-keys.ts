/**
 * The public half of the key ring as one DynamoDB item (layout: dynamo-table.ts, KEYRING).
 * The rotation function publishes it; verifiers read it with one GetItem per cache period,
 * so a function that only verifies needs no access to the secret holding private keys.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { ServiceUnavailableError } from '#domain/errors';
import { KeyRingError, type PublicKeyRing } from '#domain/keyring';
import { parsePublicKeyRing } from '#lib/keys';
import type { PublicKeyPublisher, PublicKeyStore } from '#ports/public-key-store';
import { type DynamoTable, keys } from './dynamo-table.ts';

/** Rings only grow newer: the newest key of a ring is created by the rotation that made it. */
function ringVersion(ring: PublicKeyRing): number {
  return Math.max(...ring.keys.map((k) => k.createdAt));
}

export class DynamoPublicKeyStore implements PublicKeyStore, PublicKeyPublisher {
  constructor(
    private readonly table: DynamoTable,
    private readonly now: () => number = Date.now,
  ) {}

  async loadPublic(): Promise<PublicKeyRing> {
    let item: Record<string, unknown> | undefined;
    try {
      // Eventually consistent is enough: a key is published a whole rotation before it signs.
      item = await this.table.get(keys.publicKeys, false);
      if (item) return parsePublicKeyRing(item.ring);
    } catch (error) {
      if (error instanceof ServiceUnavailableError) throw error;
      // Denied, or an item that is not a ring: a retryable 503 with the cause in the logs,
      // never the AWS text to a client.
      throw unavailable(error);
    }
    // Not published yet: the first rotation is still running after a deploy.
    throw unavailable(undefined);
  }

  async publish(ring: PublicKeyRing): Promise<void> {
    const version = ringVersion(ring);
    try {
      await this.table.send(() =>
        this.table.doc.send(
          new PutCommand({
            TableName: this.table.name,
            Item: {
              ...keys.publicKeys,
              ring,
              ringVersion: version,
              publishedAt: Math.floor(this.now() / 1000),
            },
            // Safe to repeat (same ring, same version); a retried step of an older rotation
            // can never take back keys a newer one published.
            ConditionExpression: 'attribute_not_exists(pk) OR ringVersion <= :version',
            ExpressionAttributeValues: { ':version': version },
          }),
        ),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException)
        throw new KeyRingError('unsafe_rotation', 'a newer key ring is already published', { cause: error });
      throw error;
    }
  }
}

function unavailable(cause: unknown): ServiceUnavailableError {
  return new ServiceUnavailableError('unavailable', 'Signing keys are not available yet; retry shortly.', 2, {
    cause,
  });
}
