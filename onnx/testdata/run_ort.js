// run_ort.js runs an ONNX model in ONNX Runtime (onnxruntime-node, CPU, one thread) on inputs
// read from raw little-endian files and writes every output the same way. Package onnx's tests
// call it; it needs onnxruntime-node 1.16.3 where Node.js finds it, e.g.
//   npm install --no-save --prefix /tmp/ort onnxruntime-node@1.16.3 && export NODE_PATH=/tmp/ort/node_modules
//
// usage: node run_ort.js SPEC.json    runs one spec and prints its result
//        node run_ort.js               reads one spec per line on stdin and prints one result line
//                                      each, so that a test suite starts Node.js and ONNX Runtime once
// SPEC: {"model": "m.onnx", "runs": [{"inputs": {"x": {"type": "float32", "dims": [3, 4],
//        "file": "x.bin"}}, "out": "dir/run0"}, ...]}    (types: float32, int64)
// result: a JSON array with, per run, {"y": {"type": "float32", "dims": [3, 2], "file": "dir/run0.0.bin"}, ...};
// in line mode an error is the line {"error": "..."}.
'use strict';
const fs = require('fs');
const os = require('os');
const ort = require('onnxruntime-node');

const arrays = {float32: Float32Array, int64: BigInt64Array};

function readTensor(name, t) {
  const A = arrays[t.type];
  if (!A) throw new Error(`input ${name}: unknown type ${t.type}`);
  const buf = fs.readFileSync(t.file);
  const n = t.dims.reduce((a, b) => a * b, 1);
  if (buf.length !== n * A.BYTES_PER_ELEMENT) {
    throw new Error(`input ${name}: ${t.file} holds ${buf.length} bytes, dims ${JSON.stringify(t.dims)} need ${n * A.BYTES_PER_ELEMENT}`);
  }
  const data = new A(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
  return new ort.Tensor(t.type, data, t.dims);
}

async function runSpec(spec) {
  const session = await ort.InferenceSession.create(spec.model, {intraOpNumThreads: 1, interOpNumThreads: 1});
  const results = [];
  for (const run of spec.runs) {
    const feeds = {};
    for (const [name, t] of Object.entries(run.inputs)) feeds[name] = readTensor(name, t);
    const outs = await session.run(feeds);
    const res = {};
    session.outputNames.forEach((name, i) => {
      const t = outs[name];
      const file = `${run.out}.${i}.bin`;
      fs.writeFileSync(file, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      res[name] = {type: t.type, dims: t.dims.map(Number), file};
    });
    results.push(res);
  }
  return results;
}

async function serve() {
  const lines = require('readline').createInterface({input: process.stdin});
  for await (const line of lines) {
    if (!line.trim()) continue;
    let reply;
    try {
      reply = await runSpec(JSON.parse(line));
    } catch (e) {
      reply = {error: String(e && e.message ? e.message : e)};
    }
    process.stdout.write(JSON.stringify(reply) + '\n');
  }
}

(async () => {
  if (os.endianness() !== 'LE') throw new Error('run_ort.js reads and writes little-endian files only');
  if (process.argv.length > 2) {
    const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
    process.stdout.write(JSON.stringify(await runSpec(spec)));
  } else {
    await serve();
  }
})().catch((e) => {
  process.stderr.write(`run_ort.js: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
