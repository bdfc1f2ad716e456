import { Readable } from 'node:stream';
import getRawBody from 'raw-body';

export const handler = async (event, context) => {
  const body = await getRawBody(Readable.from([Buffer.from(event)]), { encoding: 'utf8' });
  return `esm read ${body.length} bytes: ${body}`;
};
