// run.js — the ONNX files tests/test_onnx.c wrote, run by onnxruntime.
//
//     node tests/onnx/run.js DIR        (node tests/onnx/run.js --version)
//
// DIR/manifest.json lists each file with its inputs and expected outputs:
// names, shapes and raw little-endian float32 files that the C test wrote
// (vae_encode's and vae_decode's results). Each model runs on one thread
// on the CPU; every output must have the listed shape and be within TOL
// of the expected values, relative to max(1, |expected|) as in
// tests/check.h: absolutely near 0 and for the sigmoid means, relatively
// for larger values (a linear mean's, logvar's), where float32 sums in
// another order (onnxruntime's kernels, or the library's on another CPU)
// differ by a few units in the last place, 1e-6 at 10.
// Prints "ok FILE NAME max|diff| D (scaled S) ..." or "FAIL FILE: why" for
// each, and exits 1 if any failed (2 when
// onnxruntime-node cannot be loaded: npm ci --prefix tests/onnx).
'use strict';
const fs = require('fs');
const path = require('path');

const TOL = 1e-5;

let ort;
try {
    ort = require('onnxruntime-node');
} catch (e) {
    console.log('FAIL: cannot load onnxruntime-node (npm ci --prefix tests/onnx): ' + e.message.split('\n')[0]);
    process.exit(2);
}

function readFloats(file, count) {
    const buf = fs.readFileSync(file);
    if (buf.length !== 4 * count) throw new Error(`${file} has ${buf.length} bytes, not ${4 * count}`);
    const v = new Float32Array(count);
    for (let i = 0; i < count; i++) v[i] = buf.readFloatLE(4 * i);
    return v;
}

const size = (shape) => shape.reduce((a, b) => a * b, 1);

async function runOne(dir, entry) {
    const session = await ort.InferenceSession.create(path.join(dir, entry.file), {
        executionProviders: ['cpu'],
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
    });
    const feeds = {};
    for (const input of entry.inputs)
        feeds[input.name] = new ort.Tensor('float32', readFloats(path.join(dir, input.data), size(input.shape)),
                                           input.shape);
    const results = await session.run(feeds);
    const said = [];
    for (const output of entry.outputs) {
        const got = results[output.name];
        if (!got) throw new Error(`no output ${output.name}`);
        if (got.dims.join(',') !== output.shape.join(','))
            throw new Error(`${output.name} has shape [${got.dims}], not [${output.shape}]`);
        const want = readFloats(path.join(dir, output.data), size(output.shape));
        let worst = 0, worstScaled = 0, at = 0, largest = 0;
        for (let i = 0; i < want.length; i++) {
            const d = Math.abs(got.data[i] - want[i]), scaled = d / Math.max(1, Math.abs(want[i]));
            if (!(d <= worst)) worst = d; // NaN counts as the worst
            largest = Math.max(largest, Math.abs(want[i]));
            if (!(scaled <= worstScaled)) worstScaled = scaled, at = i;
        }
        if (!(worstScaled <= TOL))
            throw new Error(`${output.name}[${at}] = ${got.data[at]}, expected ${want[at]}: ` +
                            `|diff| / max(1, |expected|) ${worstScaled} > ${TOL}`);
        said.push(`${output.name} max|diff| ${worst.toExponential(2)} (scaled ${worstScaled.toExponential(2)}, ` +
                  `|expected| <= ${largest.toPrecision(3)})`);
    }
    await session.release();
    return said.join(', ');
}

async function main() {
    if (process.argv[2] === '--version') {
        console.log(`onnxruntime-node ${ort.env.versions ? ort.env.versions.node : '?'}`);
        return 0;
    }
    if (process.argv.length !== 3) {
        console.log('usage: run.js DIR');
        return 2;
    }
    const dir = process.argv[2];
    let models;
    try {
        models = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')).models;
    } catch (e) {
        console.log(`FAIL: manifest: ${e.message}`);
        return 2;
    }
    let failed = 0;
    for (const entry of models) {
        try {
            console.log(`ok ${entry.file} ${await runOne(dir, entry)}`);
        } catch (e) {
            console.log(`FAIL ${entry.file}: ${String(e.message || e).split('\n')[0]}`);
            failed++;
        }
    }
    return failed ? 1 : 0;
}

main().then((code) => process.exit(code), (e) => {
    console.log(`FAIL: ${e.message}`);
    process.exit(1);
});
