// Runs the three nsfwjs models under TensorFlow.js (pure-JS CPU backend) on raw RGB crops and prints
// their outputs as JSON: the reference that tests/test_models_nsfwjs.py compares the torch port with.
// Called by scripts/make_nsfwjs_fixture.py, which prepares the crops and writes the fixture:
//   node scripts/nsfwjs_reference.mjs NODE_MODULES_DIR JOBS.json > outputs.json
// NODE_MODULES_DIR holds @tensorflow/tfjs, nsfwjs and buffer (npm install, see the Python script).
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const [modulesDir, jobsFile] = process.argv.slice(2);
if (!modulesDir || !jobsFile) {
  console.error("usage: node scripts/nsfwjs_reference.mjs NODE_MODULES_DIR JOBS.json");
  process.exit(2);
}
const require = createRequire(join(modulesDir, "resolve-from-here.js"));
const tf = require("@tensorflow/tfjs");
const nsfwjs = require("nsfwjs");

// Node names of the pooled feature vector: the Flatten after the average pool (Keras models) and the
// squeeze of the TF-Hub graph's average pool.
const FEATURES = {
  InceptionV3: { layer: "flatten_1" },
  MobileNetV2: { layer: "flatten_1" },
  MobileNetV2Mid: {
    node: "StatefulPartitionedCall/sequential/keras_layer/StatefulPartitionedCall/StatefulPartitionedCall/" +
      "StatefulPartitionedCall/predict/feature_vector/SpatialSqueeze",
  },
};

function summary(values) {
  let sum = 0, sq = 0;
  for (const v of values) { sum += v; sq += v * v; }
  return { head: Array.from(values.slice(0, 4)), mean: sum / values.length, norm: Math.sqrt(sq) };
}

async function main() {
  await tf.setBackend("cpu");
  await tf.ready();
  const jobs = JSON.parse(readFileSync(jobsFile, "utf8"));
  const out = { backend: tf.getBackend(), tfjs: tf.version.tfjs, node: process.version, results: {} };
  for (const job of jobs.models) {
    const model = await nsfwjs.load(job.nsfwjs_name, job.nsfwjs_options || undefined);
    out.results[job.nsfwjs_name] = {};
    for (const img of job.images) {
      const pixels = Int32Array.from(readFileSync(img.file)); // raw HWC RGB bytes -> int32 values
      const image = tf.tensor3d(pixels, [img.size, img.size, 3], "int32");
      // infer(): the library's own path (x / 255, no resize at the model's size) -> probabilities
      const probs = model.infer(image);
      const probabilities = Array.from(await probs.data());
      let feats;
      const f = FEATURES[job.nsfwjs_name];
      if (f.layer) {
        feats = model.infer(image, f.layer);
      } else {
        const x = image.toFloat().div(255).reshape([1, img.size, img.size, 3]);
        feats = model.model.execute(x, f.node);
        x.dispose();
      }
      out.results[job.nsfwjs_name][img.name] = { probabilities, features: summary(await feats.data()),
        feature_dim: feats.shape[feats.shape.length - 1] };
      [image, probs, feats].forEach((t) => t.dispose());
    }
    // no model.dispose(): with the intermediate feature model it disposes shared layers twice and throws
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((err) => { console.error(err); process.exit(1); });
