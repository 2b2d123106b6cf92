// DoGet throughput of the Node apache-arrow client, for `hyprstream bench flight`: every batch is decoded by
// apache-arrow. Prints {"seconds", "bytes", "rows"}. Usage: node bench_get.mjs <host:port> <proto> <ticket>
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import * as A from 'apache-arrow';

const [addr, protoPath, ticket] = process.argv.slice(2);
const def = protoLoader.loadSync(protoPath, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
const { FlightService } = grpc.loadPackageDefinition(def).arrow.flight.protocol;
const client = new FlightService(addr, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 });

function frame(h, b) {
  const pad = (8 + h.length + 7) & ~7;
  const o = Buffer.alloc(pad + b.length);
  o.writeUInt32LE(0xFFFFFFFF, 0); o.writeInt32LE(pad - 8, 4); h.copy(o, 8); b.copy(o, pad);
  return o;
}
const eos = Buffer.from([255, 255, 255, 255, 0, 0, 0, 0]);

const start = process.hrtime.bigint();
let bytes = 0, rows = 0, schema = null, check = 0;
await new Promise((ok, bad) => {
  const s = client.DoGet({ ticket: Buffer.from(ticket) });
  s.on('data', fd => {
    if (!fd.data_header.length) return;
    bytes += fd.data_header.length + fd.data_body.length;
    const f = frame(Buffer.from(fd.data_header), Buffer.from(fd.data_body));
    if (!schema) { schema = f; return; }
    const t = A.tableFromIPC(Buffer.concat([schema, f, eos]));
    rows += t.numRows;
    check += t.getChild('value').get(t.numRows - 1);
  });
  s.on('end', ok); s.on('error', bad);
});
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
client.close();
process.stdout.write(JSON.stringify({ seconds, bytes, rows, check }));
