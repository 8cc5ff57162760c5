// ort_run.js MODEL THREADS ITERS [PROFILE]: times batch-1 inference of an
// ONNX model (input 1x3x224x224) in ONNX Runtime's CPU provider and prints
// one line of JSON like bench/planrun: median and fastest run in ms, the
// process's CPU time per run (all threads, mean over the timed runs), peak
// RSS in kB. With PROFILE, a path prefix, ONNX Runtime also profiles every
// run (its own timings then include the profiling) and writes the trace to
// PROFILE_<date>.json, whose path the line gives as "profile"
// (bench/compare_ort_steps.sh reads it).
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

async function main() {
  const [model, threadsArg, itersArg, profile] = process.argv.slice(2);
  const threads = Number(threadsArg || 1);
  const iters = Number(itersArg || 50);
  const sess = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    enableProfiling: Boolean(profile),
    profileFilePrefix: profile || undefined,
  });
  const data = new Float32Array(3 * 224 * 224);
  let s = 12345;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    data[i] = s / 2147483648 - 0.5;
  }
  const feeds = { [sess.inputNames[0]]: new ort.Tensor('float32', data, [1, 3, 224, 224]) };
  for (let i = 0; i < 10; i++) await sess.run(feeds);
  const times = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < iters; i++) {
    const t0 = process.hrtime.bigint();
    await sess.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const cpu = process.cpuUsage(cpu0);
  let trace;
  if (profile) {
    sess.endProfiling();
    const dir = path.dirname(profile);
    const base = path.basename(profile) + '_';
    const files = fs.readdirSync(dir).filter((f) => f.startsWith(base) && f.endsWith('.json'));
    if (files.length === 0) throw new Error(`no profile ${profile}_*.json written`);
    trace = path.join(dir, files.sort().pop());
  }
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({
    model, threads, iters,
    median_ms: times[Math.floor(iters / 2)],
    min_ms: times[0],
    cpu_mean_ms: (cpu.user + cpu.system) / 1000 / iters,
    peak_rss_kb: process.resourceUsage().maxRSS,
    ort: ort.env.versions.common,
    profile: trace,
  }));
}

main().catch((e) => { console.error('ort_run:', e.message); process.exit(1); });
