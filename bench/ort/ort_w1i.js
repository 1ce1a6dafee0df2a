// W1i with ONNX Runtime (onnxruntime-node, CPU): images/s of a batch-256 forward pass of w1.onnx.
// Setup once: npm install --no-save --prefix DIR onnxruntime-node@1.16.3 and run with
// NODE_PATH=DIR/node_modules (newer versions download their binaries at install time from a host
// that cannot be reached here; 1.16.3 ships them in the package). bench/compare.py does both.
// usage: node ort_w1i.js MODEL.onnx THREADS [PASSES]      figure (median pass) on the last line
// Each pass reads a new batch, drawn untimed before it, as unroll's and PyTorch's W1i do.
const ort = require('onnxruntime-node');
(async () => {
  const model = process.argv[2], th = parseInt(process.argv[3] || '1'), n = parseInt(process.argv[4] || '20');
  const s = await ort.InferenceSession.create(model, {intraOpNumThreads: th, interOpNumThreads: 1, graphOptimizationLevel: 'all'});
  const batch = () => new ort.Tensor('float32', Float32Array.from({length: 256 * 784}, () => Math.random() - 0.5), [256, 1, 28, 28]);
  for (let i = 0; i < 3; i++) await s.run({x: batch()});
  const ts = [];
  for (let i = 0; i < n; i++) {
    const x = batch();
    const t = process.hrtime.bigint();
    await s.run({x});
    ts.push(Number(process.hrtime.bigint() - t) / 1e9);
  }
  ts.sort((a, b) => a - b);
  console.log(`onnxruntime-node ${require('onnxruntime-node/package.json').version} threads=${th} passes=${n}`);
  console.log(`W1i best-pass images/s ${(256 / ts[0]).toFixed(1)}`);
  console.log(`W1i images/s ${(256 / ts[Math.floor(n / 2)]).toFixed(1)}`);
})();
