// Runs every ONNX model listed in a checkcases manifest with ONNX Runtime
// (CPU) on the case's input.safetensors and writes the output next to it as
// ort_<model>.safetensors (tensor "logits"), for check_export.py to compare.
//
//   node scripts/export-check/run_onnx.mjs DIR
//
// Exits non-zero when a model fails to load or run: that is a failed check.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";

function readSafetensors(path) {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8"));
  const out = {};
  for (const [name, e] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    if (e.dtype !== "F32") throw new Error(`${path}: tensor ${name}: dtype ${e.dtype}, want F32`);
    const [lo, hi] = e.data_offsets;
    const bytes = buf.subarray(8 + n + lo, 8 + n + hi);
    const data = new Float32Array(bytes.length / 4);
    for (let i = 0; i < data.length; i++) data[i] = bytes.readFloatLE(4 * i);
    out[name] = { shape: e.shape, data };
  }
  return out;
}

function writeSafetensors(path, name, shape, data) {
  let header = JSON.stringify({ [name]: { dtype: "F32", shape, data_offsets: [0, 4 * data.length] } });
  while (header.length % 8 !== 0) header += " ";
  const out = Buffer.alloc(8 + header.length + 4 * data.length);
  out.writeBigUInt64LE(BigInt(header.length), 0);
  out.write(header, 8, "utf8");
  for (let i = 0; i < data.length; i++) out.writeFloatLE(data[i], 8 + header.length + 4 * i);
  writeFileSync(path, out);
}

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node run_onnx.mjs DIR (a directory written by export/internal/checkcases)");
  process.exit(2);
}
const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
let failed = 0;
let ran = 0;
for (const c of manifest.cases) {
  if (c.skipped) continue;
  const input = readSafetensors(join(dir, c.dir, "input.safetensors")).input;
  for (const model of c.onnx) {
    const path = join(dir, c.dir, model);
    try {
      const session = await ort.InferenceSession.create(path, {
        executionProviders: ["cpu"],
        intraOpNumThreads: 1,
        graphOptimizationLevel: "all",
      });
      const feeds = { input: new ort.Tensor("float32", input.data, input.shape) };
      const result = await session.run(feeds);
      const logits = result.logits;
      if (!logits) throw new Error(`no output named logits (outputs: ${Object.keys(result)})`);
      const outName = "ort_" + model.replace(/\.onnx$/, ".safetensors");
      writeSafetensors(join(dir, c.dir, outName), "logits", logits.dims.map(Number), logits.data);
      await session.release();
      ran++;
    } catch (err) {
      console.error(`FAIL onnxruntime ${c.name}/${model}: ${err.message ?? err}`);
      failed++;
    }
  }
}
console.log(`onnxruntime-node ${ort.env.versions?.common ?? ""}: ran ${ran} models, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
