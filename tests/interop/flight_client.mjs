// An independent Arrow Flight client (apache-arrow + @grpc/grpc-js, no Hyprstream code) driven by the NUnit test
// NodeInteropTests: Handshake, ListFlights, DoGet of the row and tile flights (decoded by apache-arrow), DoPut of row
// (dictionary-encoded module) and tile batches (encoded by apache-arrow),
// DoAction, ListActions, and an unauthenticated call. Prints one JSON report on stdout; the test checks it.
// Usage: node flight_client.mjs <host:port> <token> <proto path>
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import * as A from 'apache-arrow';

const [addr, token, protoPath] = process.argv.slice(2);
const def = protoLoader.loadSync(protoPath, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
const { FlightService } = grpc.loadPackageDefinition(def).arrow.flight.protocol;
const client = new FlightService(addr, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 });

let auth = new grpc.Metadata();
const opts = () => ({ deadline: Date.now() + 30000 });

function handshake() {
  return new Promise((ok, bad) => {
    const call = client.Handshake(new grpc.Metadata(), opts());
    let payload = null;
    call.on('data', r => { payload = Buffer.from(r.payload).toString('utf8'); });
    call.on('error', bad);
    call.on('end', () => ok(payload));
    call.write({ protocol_version: 1, payload: Buffer.from(token, 'utf8') });
    call.end();
  });
}

function serverStream(method, request, md = auth) {
  return new Promise((ok, bad) => {
    const out = [];
    const s = client[method](request, md, opts());
    s.on('data', d => out.push(d));
    s.on('error', bad);
    s.on('end', () => ok(out));
  });
}

// An IPC message from FlightData: continuation, padded metadata length, metadata, padding, body.
function frame(header, body) {
  const padded = (8 + header.length + 7) & ~7;
  const out = Buffer.alloc(padded + body.length);
  out.writeUInt32LE(0xFFFFFFFF, 0);
  out.writeInt32LE(padded - 8, 4);
  header.copy(out, 8);
  body.copy(out, padded);
  return out;
}

async function doGet(ticket) {
  const parts = [];
  for (const fd of await serverStream('DoGet', { ticket })) {
    if (fd.data_header.length) parts.push(frame(Buffer.from(fd.data_header), Buffer.from(fd.data_body)));
  }
  parts.push(Buffer.from([255, 255, 255, 255, 0, 0, 0, 0]));
  return A.tableFromIPC(Buffer.concat(parts));
}

// Split an apache-arrow IPC stream into FlightData messages (metadata without its prefix, body).
function toFlightData(bytes) {
  const out = [];
  let p = 0;
  while (p + 8 <= bytes.length) {
    const len = bytes.readInt32LE(p + 4);
    if (len === 0) break;
    const meta = bytes.subarray(p + 8, p + 8 + len);
    const bodyLength = Number(A.Message.decode(meta).bodyLength);
    out.push({ data_header: meta, data_body: bytes.subarray(p + 8 + len, p + 8 + len + bodyLength) });
    p += 8 + len + bodyLength;
  }
  return out;
}

function doPut(descriptor, table, appMetadata) {
  return new Promise((ok, bad) => {
    const results = [];
    const call = client.DoPut(auth, opts());
    call.on('data', r => results.push(Buffer.from(r.app_metadata).toString('utf8')));
    call.on('error', bad);
    call.on('end', () => ok(results));
    const messages = toFlightData(Buffer.from(A.tableToIPC(table, 'stream')));
    messages.forEach((m, i) => {
      if (i === 0) m.flight_descriptor = descriptor;
      else m.app_metadata = Buffer.from(appMetadata, 'utf8');
      call.write(m);
    });
    call.end();
  });
}

const report = {};
try {
  // Without a token every call is refused.
  try { await serverStream('ListFlights', { expression: Buffer.alloc(0) }, new grpc.Metadata()); report.unauthenticated = 'no error'; }
  catch (e) { report.unauthenticated = e.code; }

  const echoed = await handshake();
  report.handshake = echoed === token;
  auth = new grpc.Metadata();
  auth.set('authorization', `Bearer ${echoed}`);

  const flights = await serverStream('ListFlights', { expression: Buffer.alloc(0) });
  report.flights = flights.map(f => ({ path: f.flight_descriptor.path, records: Number(f.total_records) }));

  const whole = flights.find(f => f.flight_descriptor.path.length === 2 && f.flight_descriptor.path[0] === 'adapters' && f.flight_descriptor.path[1] === 'small');
  const table = await doGet(whole.endpoint[0].ticket.ticket);
  report.schema = table.schema.fields.map(f => `${f.name}:${f.type}`);
  const m = table.getChild('module'), r = table.getChild('row'), c = table.getChild('col'), v = table.getChild('value');
  report.rows = [];
  for (let i = 0; i < table.numRows; i++) report.rows.push([m.get(i), r.get(i), c.get(i), v.get(i)]);

  // The tile flight: one row per stored 8x64 tile, values row-major; every non-zero value is a stored weight.
  const tileFlight = flights.find(f => f.flight_descriptor.path.length === 2 && f.flight_descriptor.path[0] === 'tiles' && f.flight_descriptor.path[1] === 'small');
  const tiles = await doGet(tileFlight.endpoint[0].ticket.ticket);
  report.tileSchema = tiles.schema.fields.map(f => `${f.name}:${f.type}`);
  report.tileCount = tiles.numRows;
  report.tileWeights = [];
  const tm = tiles.getChild('module'), tr = tiles.getChild('tile_row'), tc = tiles.getChild('tile_col'), tv = tiles.getChild('values');
  for (let i = 0; i < tiles.numRows; i++) {
    const vals = tv.get(i).toArray();
    for (let k = 0; k < 512; k++) if (vals[k] !== 0) report.tileWeights.push([tm.get(i), tr.get(i) * 8 + (k >> 6), tc.get(i) * 64 + (k & 63), vals[k]]);
  }

  // A tile DoPut: two tiles of q_proj (64x128: 8x2 tiles), the module column dictionary-encoded as pyarrow sends categoricals.
  const q = 'model.layers.0.self_attn.q_proj';
  const tileValues = new Float32Array(2 * 512);
  tileValues[0] = 1.5;                  // (0, 0) of tile (0, 0)
  tileValues[512 + 7 * 64 + 63] = -2;   // (7, 63) of tile (7, 1): weight (63, 127)
  const valuesType = new A.FixedSizeList(512, new A.Field('item', new A.Float32(), false));
  const tilePut = new A.Table({
    module: A.vectorFromArray([q, q], new A.Dictionary(new A.Utf8(), new A.Int16())),
    tile_row: A.vectorFromArray([0, 7], new A.Int32()),
    tile_col: A.vectorFromArray([0, 1], new A.Int32()),
    values: A.makeVector(A.makeData({ type: valuesType, length: 2, nullCount: 0,
      child: A.makeData({ type: new A.Float32(), length: 1024, nullCount: 0, data: tileValues }) })),
  });
  const tileCmd = { adapter: 'tiles-from-node', create: true, modules: [{ name: q, rows: 64, cols: 128 }] };
  report.tilePut = await doPut({ type: 'CMD', cmd: Buffer.from(JSON.stringify(tileCmd)) }, tilePut, 'set');

  const put = new A.Table({
    module: A.vectorFromArray(['model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.q_proj'], new A.Dictionary(new A.Utf8(), new A.Int32())),
    row: A.vectorFromArray([1, 2, 63], new A.Int32()),
    col: A.vectorFromArray([10, 20, 127], new A.Int32()),
    value: A.vectorFromArray([0.5, -0.25, 3], new A.Float32()),
  });
  const cmd = { adapter: 'from-node', create: true, modules: [{ name: 'model.layers.0.self_attn.q_proj', rows: 64, cols: 128 }] };
  report.put = await doPut({ type: 'CMD', cmd: Buffer.from(JSON.stringify(cmd)) }, put, 'set');

  const stats = await serverStream('DoAction', { type: 'stats', body: Buffer.from('{}') });
  report.stats = JSON.parse(Buffer.from(stats[0].body).toString('utf8'));
  report.actions = (await serverStream('ListActions', {})).map(a => a.type);
  try { await serverStream('DoAction', { type: 'no-such-action', body: Buffer.alloc(0) }); report.badAction = 'no error'; }
  catch (e) { report.badAction = e.code; }
} catch (e) {
  report.error = `${e.code ?? ''} ${e.details ?? e.message}`;
}
client.close();
process.stdout.write(JSON.stringify(report));
