/* report.c — report.html for a trained model; see report.h.

   The page is written into one growing buffer, top to bottom: head (style,
   and a small script that catches errors before anything else runs), the
   sections, the model's data as a JSON block, then the explorer's script.
   The style and scripts are C string constants below, one array entry per
   line: ISO C99 compilers need only accept string literals of 4095
   characters, and the script is longer than that.

   Only C99 and the library's public API: the network is read with
   vae_layer_info, the weights with vae_get_tensor (in PyTorch's order,
   which the script follows: channels first).
*/
#include "report.h"

#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---- the output buffer ----

typedef struct {
    char *text;  /* NUL-terminated once anything was written */
    size_t len;  /* bytes in text, without the NUL */
    size_t cap;  /* bytes allocated */
    int failed;  /* an allocation failed: nothing more is written */
} html_buf;

/* Appends n bytes of s; on failure sets b->failed, and from then on does
   nothing. */
static void out_bytes(html_buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (n >= b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 4096;
        char *grown;
        if (n > SIZE_MAX / 2 - b->len) {
            b->failed = 1;
            return;
        }
        while (cap - b->len <= n)
            cap *= 2;
        if (!(grown = realloc(b->text, cap))) {
            b->failed = 1;
            return;
        }
        b->text = grown;
        b->cap = cap;
    }
    memcpy(b->text + b->len, s, n);
    b->len += n;
    b->text[b->len] = '\0';
}

static void out_text(html_buf *b, const char *s)
{
    out_bytes(b, s, strlen(s));
}

/* printf into the page; for short pieces (a number, a tag). */
static void out_format(html_buf *b, const char *fmt, ...)
{
    char piece[256];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(piece, sizeof piece, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof piece)
        b->failed = 1; /* a bug, not a state of the machine: make it loud */
    else
        out_bytes(b, piece, (size_t)n);
}

/* Each line of a NULL-terminated array, followed by a newline. */
static void out_lines(html_buf *b, const char *const *lines)
{
    for (; *lines; lines++) {
        out_text(b, *lines);
        out_bytes(b, "\n", 1);
    }
}

/* n bytes of s as HTML text (also safe inside a quoted attribute). */
static void out_escaped_n(html_buf *b, const char *s, size_t n)
{
    size_t i, from = 0;
    for (i = 0; i < n; i++) {
        const char *entity;
        switch (s[i]) {
        case '&': entity = "&amp;"; break;
        case '<': entity = "&lt;"; break;
        case '>': entity = "&gt;"; break;
        case '"': entity = "&quot;"; break;
        case '\'': entity = "&#39;"; break;
        default: continue;
        }
        out_bytes(b, s + from, i - from);
        out_text(b, entity);
        from = i + 1;
    }
    out_bytes(b, s + from, n - from);
}

static void out_escaped(html_buf *b, const char *s)
{
    out_escaped_n(b, s, strlen(s));
}

/* A number for the JSON block: digits significant digits, with a '.'
   whatever the locale (printf's decimal point is LC_NUMERIC's); null when
   it is not finite, which JSON cannot say. */
static void out_number(html_buf *b, double v, int digits)
{
    char text[64], *at;
    const char *dp = localeconv()->decimal_point;
    size_t dl = dp ? strlen(dp) : 0;
    if (!isfinite(v)) {
        out_text(b, "null");
        return;
    }
    snprintf(text, sizeof text, "%.*g", digits, v);
    if (dl > 0 && !(dl == 1 && dp[0] == '.') && (at = strstr(text, dp)) != NULL) {
        *at = '.';
        memmove(at + 1, at + dl, strlen(at + dl) + 1);
    }
    out_text(b, text);
}

/* Base64 (RFC 4648, with padding) of n bytes. */
static void out_base64(html_buf *b, const unsigned char *p, size_t n)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char quad[4 * 256];
    size_t i = 0, q = 0;
    while (i < n) {
        unsigned long v = (unsigned long)p[i] << 16;
        size_t left = n - i;
        if (left > 1)
            v |= (unsigned long)p[i + 1] << 8;
        if (left > 2)
            v |= p[i + 2];
        quad[q++] = digits[v >> 18 & 63];
        quad[q++] = digits[v >> 12 & 63];
        quad[q++] = left > 1 ? digits[v >> 6 & 63] : '=';
        quad[q++] = left > 2 ? digits[v & 63] : '=';
        i += left > 3 ? 3 : left;
        if (q == sizeof quad) {
            out_bytes(b, quad, q);
            q = 0;
        }
    }
    out_bytes(b, quad, q);
}

/* An SVG document as inline markup: what comes before the <svg> element
   (an XML declaration, a DOCTYPE with its DTD's address, comments) is left
   out, since an HTML page cannot use it. */
static void out_svg(html_buf *b, const char *svg)
{
    const char *s = svg;
    for (;;) {
        const char *end = NULL;
        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
            s++;
        if (strncmp(s, "<?", 2) == 0) {
            end = strstr(s, "?>");
        } else if (strncmp(s, "<!--", 4) == 0) {
            end = strstr(s, "-->");
        } else if (strncmp(s, "<!", 2) == 0) { /* <!DOCTYPE ...>, perhaps with [an internal subset] */
            const char *bracket = strchr(s, '['), *close = strchr(s, '>');
            end = bracket && close && bracket < close ? strstr(bracket, "]>") : close;
        }
        if (!end)
            break;
        s = strchr(end, '>') + 1;
    }
    out_text(b, s);
}

// ---- the page's style and scripts ----

static const char *const page_style[] = {
    ":root {",
    "  --ink: #1c2330; --muted: #5d6778; --line: #d8dde5;",
    "  --card: #ffffff; --page: #f2f4f7; --accent: #2563c9;",
    "}",
    "* { box-sizing: border-box; }",
    "body {",
    "  margin: 0; color: var(--ink); background: var(--page);",
    "  font: 15px/1.45 system-ui, -apple-system, \"Segoe UI\", Roboto, sans-serif;",
    "}",
    "header { padding: 20px 28px 8px; }",
    "h1 { margin: 0 0 4px; font-size: 22px; overflow-wrap: anywhere; }",
    ".summary { margin: 0; color: var(--muted); font-variant-numeric: tabular-nums; }",
    "main {",
    "  display: grid; gap: 16px; padding: 12px 28px 28px;",
    "  grid-template-columns: repeat(auto-fit, minmax(340px, 1fr));",
    "}",
    ".card {",
    "  min-width: 0; padding: 14px 16px; background: var(--card);",
    "  border: 1px solid var(--line); border-radius: 8px;",
    "}",
    ".card h2 { margin: 0 0 10px; font-size: 16px; }",
    ".wide { grid-column: 1 / -1; }",
    ".na { margin: 0; color: var(--muted); font-style: italic; }",
    ".hint { margin: 0 0 10px; color: var(--muted); font-size: 13px; }",
    ".figure svg, .figure img { display: block; max-width: 100%; height: auto; }",
    "img.pixels, canvas { image-rendering: pixelated; }",
    "table { width: 100%; border-collapse: collapse; font-size: 13px; }",
    "th, td { padding: 3px 8px; text-align: left; border-bottom: 1px solid var(--line); }",
    "th { font-weight: 600; white-space: nowrap; }",
    "td { font-family: ui-monospace, Menlo, Consolas, monospace; overflow-wrap: anywhere; }",
    ".explorer { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }",
    "#plane {",
    "  width: 256px; height: 256px; border: 1px solid var(--line); border-radius: 4px;",
    "  cursor: crosshair; touch-action: none;",
    "}",
    "#plane:focus-visible { outline: 2px solid var(--accent); }",
    "#image { max-width: 100%; border: 1px solid var(--line); background: #000; }",
    ".sliders {",
    "  display: grid; grid-template-columns: auto minmax(120px, 1fr) 3.5em;",
    "  gap: 0 8px; align-items: center; flex: 1 1 260px; max-height: 258px;",
    "  overflow-y: auto; padding-right: 6px; font-size: 12px;",
    "}",
    ".sliders:empty { display: none; }",
    ".sliders label, .sliders output { font-family: ui-monospace, Menlo, Consolas, monospace; }",
    ".sliders output { text-align: right; }",
    ".sliders input { width: 100%; margin: 2px 0; }",
    ".z {",
    "  margin: 10px 0 0; color: var(--muted); font-size: 12px; overflow-wrap: anywhere;",
    "  font-family: ui-monospace, Menlo, Consolas, monospace;",
    "}",
    "#errors {",
    "  margin: 12px 28px 0; padding: 8px 12px; color: #9b1111; background: #fff1f1;",
    "  border: 1px solid #e5a5a5; border-radius: 6px; white-space: pre-wrap;",
    "}",
    "#selftest { margin: 0 28px 28px; max-height: 240px; overflow: auto; font-size: 11px; }",
    "#errors:empty, #selftest:empty { display: none; }",
    NULL};

/* In the head, before any other script: errors thrown by the page's
   scripts (a syntax error in the explorer's included) and console.error
   messages go to <pre id="errors">. */
static const char *const error_script[] = {
    "(function () {",
    "  const messages = [];",
    "  function flush() {",
    "    const pre = document.getElementById('errors');",
    "    if (pre) pre.textContent = messages.join('\\n');",
    "  }",
    "  function show(message) {",
    "    messages.push(message);",
    "    flush();",
    "  }",
    "  window.onerror = function (message, source, line, column) {",
    "    show(message + ' (line ' + line + ':' + column + ')');",
    "  };",
    "  const consoleError = console.error;",
    "  console.error = function (...args) {",
    "    show(args.map(String).join(' '));",
    "    consoleError.apply(console, args);",
    "  };",
    "  document.addEventListener('DOMContentLoaded', flush); // messages from before <pre> existed",
    "})();",
    NULL};

/* The explorer and the self-test, reading the JSON block #model. */
static const char *const explorer_script[] = {
    "'use strict';",
    "const model = JSON.parse(document.getElementById('model').textContent);",
    "",
    "// ---- the decoder ----",
    "",
    "// base64 of little-endian float32 -> Float64Array",
    "function floats(base64) {",
    "  const text = atob(base64);",
    "  const bytes = new Uint8Array(text.length);",
    "  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);",
    "  const view = new DataView(bytes.buffer);",
    "  const values = new Float64Array(bytes.length / 4);",
    "  for (let i = 0; i < values.length; i++) values[i] = view.getFloat32(4 * i, true);",
    "  return values;",
    "}",
    "",
    "// As PyTorch has them, channels first: fc weight (out, in); conv",
    "// (out, in, k, k); convt (in, out, k, k); biases per output channel.",
    "const layers = model.layers.map(layer => Object.assign({}, layer, {",
    "  weight: floats(layer.weight), bias: floats(layer.bias),",
    "}));",
    "const activations = {",
    "  tanh: Math.tanh,",
    "  relu: x => (x > 0 ? x : 0),",
    "  leakyrelu: x => (x > 0 ? x : 0.01 * x),",
    "  sigmoid: x => 1 / (1 + Math.exp(-x)),",
    "  none: x => x,",
    "};",
    "",
    "// One layer on h (channels, rows, cols) before its activation.",
    "function forward(L, h) {",
    "  const [ic, ih, iw] = L.in, [oc, oh, ow] = L.out, k = L.k, s = L.s, p = L.p;",
    "  const n = oc * oh * ow, out = new Float64Array(n), w = L.weight;",
    "  if (L.kind === 'fc') {",
    "    const m = ic * ih * iw;",
    "    for (let o = 0; o < n; o++) {",
    "      let sum = L.bias[o];",
    "      for (let i = 0; i < m; i++) sum += w[o * m + i] * h[i];",
    "      out[o] = sum;",
    "    }",
    "    return out;",
    "  }",
    "  for (let o = 0; o < oc; o++) out.fill(L.bias[o], o * oh * ow, (o + 1) * oh * ow);",
    "  for (let c = 0; c < ic; c++)",
    "    for (let y = 0; y < (L.kind === 'conv' ? oh : ih); y++)",
    "      for (let x = 0; x < (L.kind === 'conv' ? ow : iw); x++)",
    "        for (let ky = 0; ky < k; ky++)",
    "          for (let kx = 0; kx < k; kx++) {",
    "            // conv reads (c, y s - p + ky, ...) into output (o, y, x);",
    "            // convt adds input (c, y, x) into output (o, y s - p + ky, ...)",
    "            const Y = y * s - p + ky, X = x * s - p + kx;",
    "            if (L.kind === 'conv') {",
    "              if (Y < 0 || Y >= ih || X < 0 || X >= iw) continue;",
    "              const v = h[(c * ih + Y) * iw + X];",
    "              for (let o = 0; o < oc; o++) out[(o * oh + y) * ow + x] += w[((o * ic + c) * k + ky) * k + kx] * v;",
    "            } else {",
    "              if (Y < 0 || Y >= oh || X < 0 || X >= ow) continue;",
    "              const v = h[(c * ih + y) * iw + x];",
    "              for (let o = 0; o < oc; o++) out[(o * oh + Y) * ow + X] += w[((c * oc + o) * k + ky) * k + kx] * v;",
    "            }",
    "          }",
    "  return out;",
    "}",
    "",
    "// The likelihood's mean for z (Z), in float64: each layer and its",
    "// activation, the last one's the mean's; then channels last, as the",
    "// library keeps images.",
    "function decode(z) {",
    "  let h = Float64Array.from(z);",
    "  layers.forEach(L => {",
    "    h = forward(L, h).map(activations[L.act]);",
    "  });",
    "  const [c, r, w] = layers[layers.length - 1].out;",
    "  if (c === 1 || r * w === 1) return h;",
    "  const img = new Float64Array(h.length);",
    "  for (let ch = 0; ch < c; ch++) for (let q = 0; q < r * w; q++) img[q * c + ch] = h[ch * r * w + q];",
    "  return img;",
    "}",
    "",
    "// ---- the image: (rows, cols, channels), drawn scaled up ----",
    "",
    "const [rows, cols, channels] = model.geometry;",
    "const colour = channels === 3;",
    "const tiles = colour ? 1 : channels; // other channel counts: one grey tile each",
    "const image = document.getElementById('image');",
    "image.width = cols * tiles;",
    "image.height = rows;",
    "const scale = Math.max(1, Math.floor(256 / Math.max(image.width, image.height)));",
    "image.style.width = image.width * scale + 'px';",
    "const imageContext = image.getContext('2d');",
    "const pixels = imageContext.createImageData(image.width, image.height);",
    "const toByte = p => Math.round(255 * Math.min(1, Math.max(0, p)));",
    "",
    "function drawImage(mean) {",
    "  const data = pixels.data;",
    "  for (let r = 0; r < rows; r++)",
    "    for (let c = 0; c < cols; c++)",
    "      for (let k = 0; k < channels; k++) {",
    "        const v = toByte(mean[(r * cols + c) * channels + k]);",
    "        if (colour) {",
    "          data[4 * (r * cols + c) + k] = v;",
    "        } else {",
    "          const at = 4 * (r * image.width + k * cols + c);",
    "          data[at] = data[at + 1] = data[at + 2] = v;",
    "        }",
    "      }",
    "  for (let at = 3; at < data.length; at += 4) data[at] = 255;",
    "  imageContext.putImageData(pixels, 0, 0);",
    "}",
    "",
    "// ---- the latent point: a plane (Z >= 2), sliders (Z != 2) ----",
    "",
    "const Z = model.latent;",
    "const z = new Float64Array(Z);",
    "const plane = model.plane; // z = mean + a dir[0] + b dir[1], |a| <= extent[0], |b| <= extent[1]",
    "if (plane) z.set(plane.mean);",
    "let marker = [0, 0]; // (a, b)",
    "",
    "const hint = document.getElementById('hint');",
    "if (Z === 1) hint.textContent = 'Move the slider: the image is decoded as you go.';",
    "else if (Z === 2) hint.textContent = 'Drag over the plane (z1 across, z2 up, each in [-3, 3]): ' +",
    "  'the image is decoded as you go. Arrow keys move the point too.';",
    "else hint.textContent = 'Drag over the plane of the codes\\u2019 two principal directions ' +",
    "  '(around their mean, \\u00b1' + plane.extent[0].toPrecision(3) + ' across and \\u00b1' +",
    "  plane.extent[1].toPrecision(3) + ' up), or move a slider per dimension.';",
    "",
    "const sliders = [];",
    "const sliderPanel = document.getElementById('sliders');",
    "if (Z !== 2)",
    "  for (let i = 0; i < Z; i++) {",
    "    const label = document.createElement('label');",
    "    const input = document.createElement('input');",
    "    const value = document.createElement('output');",
    "    label.textContent = 'z' + (i + 1);",
    "    label.htmlFor = input.id = 'z' + (i + 1);",
    "    Object.assign(input, { type: 'range', min: -3, max: 3, step: 0.01 });",
    "    input.addEventListener('input', () => {",
    "      z[i] = Number(input.value);",
    "      value.textContent = z[i].toFixed(2);",
    "      if (plane) marker = project(z);",
    "      update();",
    "    });",
    "    sliderPanel.append(label, input, value);",
    "    sliders.push({ input, value });",
    "  }",
    "",
    "function syncSliders() {",
    "  sliders.forEach((slider, i) => {",
    "    slider.input.value = z[i]; // the browser clamps it to [-3, 3]",
    "    slider.value.textContent = z[i].toFixed(2);",
    "  });",
    "}",
    "",
    "const dot = (u, v) => u.reduce((sum, x, i) => sum + x * v[i], 0);",
    "",
    "// (a, b) of z's projection on the plane",
    "function project(point) {",
    "  const offset = Array.from(point, (x, i) => x - plane.mean[i]);",
    "  return plane.dir.map(d => dot(offset, d) / (dot(d, d) || 1));",
    "}",
    "",
    "function setPlanePoint(a, b) {",
    "  marker = [a, b];",
    "  for (let i = 0; i < Z; i++) z[i] = plane.mean[i] + a * plane.dir[0][i] + b * plane.dir[1][i];",
    "  syncSliders();",
    "  update();",
    "}",
    "",
    "const planeCanvas = document.getElementById('plane');",
    "const planeContext = planeCanvas.getContext('2d');",
    "",
    "function drawPlane() {",
    "  const c = planeContext, w = planeCanvas.width, h = planeCanvas.height;",
    "  const [ea, eb] = plane.extent;",
    "  c.clearRect(0, 0, w, h);",
    "  c.fillStyle = '#f7f9fc';",
    "  c.fillRect(0, 0, w, h);",
    "  for (let k = -3; k <= 3; k++) { // lines at thirds of the extent (whole units for Z = 2)",
    "    const x = (k / 3 + 1) * w / 2, y = (k / 3 + 1) * h / 2;",
    "    c.strokeStyle = k === 0 ? '#9aa4b5' : '#e1e6ee';",
    "    c.beginPath();",
    "    c.moveTo(x, 0); c.lineTo(x, h);",
    "    c.moveTo(0, y); c.lineTo(w, y);",
    "    c.stroke();",
    "  }",
    "  c.fillStyle = '#5d6778';",
    "  c.font = '12px system-ui, sans-serif';",
    "  c.fillText(Z === 2 ? 'z1' : 'dir 1', w - 34, h / 2 - 6);",
    "  c.fillText(Z === 2 ? 'z2' : 'dir 2', w / 2 + 6, 14);",
    "  const a = Math.max(-1, Math.min(1, marker[0] / ea)), b = Math.max(-1, Math.min(1, marker[1] / eb));",
    "  c.fillStyle = '#2563c9';",
    "  c.beginPath();",
    "  c.arc((a + 1) * w / 2, (1 - b) * h / 2, 6, 0, 2 * Math.PI);",
    "  c.fill();",
    "}",
    "",
    "if (plane) {",
    "  let dragging = false;",
    "  const pick = event => {",
    "    const box = planeCanvas.getBoundingClientRect();",
    "    const x = Math.max(0, Math.min(1, (event.clientX - box.left) / box.width));",
    "    const y = Math.max(0, Math.min(1, (event.clientY - box.top) / box.height));",
    "    setPlanePoint((2 * x - 1) * plane.extent[0], (1 - 2 * y) * plane.extent[1]);",
    "  };",
    "  planeCanvas.addEventListener('pointerdown', event => {",
    "    dragging = true;",
    "    planeCanvas.setPointerCapture(event.pointerId);",
    "    pick(event);",
    "    event.preventDefault();",
    "  });",
    "  planeCanvas.addEventListener('pointermove', event => { if (dragging) pick(event); });",
    "  for (const type of ['pointerup', 'pointercancel'])",
    "    planeCanvas.addEventListener(type, () => { dragging = false; });",
    "  planeCanvas.addEventListener('keydown', event => {",
    "    const steps = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };",
    "    const step = steps[event.key];",
    "    if (!step) return;",
    "    const clamp = (v, e) => Math.max(-e, Math.min(e, v));",
    "    const [ea, eb] = plane.extent;",
    "    setPlanePoint(clamp(marker[0] + step[0] * ea / 30, ea), clamp(marker[1] + step[1] * eb / 30, eb));",
    "    event.preventDefault();",
    "  });",
    "} else {",
    "  planeCanvas.hidden = true;",
    "}",
    "",
    "// ---- drawing, at most once a frame ----",
    "",
    "const zText = document.getElementById('z-values');",
    "let pending = false;",
    "",
    "function render() {",
    "  pending = false;",
    "  drawImage(decode(z));",
    "  if (plane) drawPlane();",
    "  zText.textContent = '(' + Array.from(z, v => v.toFixed(2)).join(', ') + ')';",
    "}",
    "",
    "function update() {",
    "  if (!pending) {",
    "    pending = true;",
    "    requestAnimationFrame(render);",
    "  }",
    "}",
    "",
    "syncSliders();",
    "render();",
    "",
    "// ---- self-test (#selftest): decode every check vector ----",
    "",
    "if (location.hash === '#selftest') {",
    "  const matrix = vectors =>",
    "    '[' + vectors.map(v => '[' + Array.from(v, x => x.toPrecision(9)).join(',') + ']').join(',\\n') + ']';",
    "  const checks = model.check.map(v => v.map(x => Math.fround(x)));",
    "  const means = checks.map(v => decode(v));",
    "  document.getElementById('selftest').textContent =",
    "    '{\"z\": ' + matrix(checks) + ',\\n\"mean\": ' + matrix(means) + '}';",
    "}",
    NULL};

// ---- the decoder's tensors ----

typedef struct {
    int n_layers;
    vae_layer layer[VAE_MAX_LAYERS];
    const char *mean; /* the output layer's activation: "sigmoid" or "none" */
} decoder_shape;

static double shape_size(const int s[3])
{
    return (double)s[0] * s[1] * s[2];
}

/* The decoder's layers, chained from Z inputs to D outputs. 0, or -1. */
static int find_decoder(const vae *m, decoder_shape *d)
{
    const vae_config *c = vae_get_config(m);
    int i, count = vae_layer_count(m);
    double from;
    if (!c || (c->likelihood != VAE_BERNOULLI && c->likelihood != VAE_GAUSSIAN))
        return -1;
    d->n_layers = 0;
    d->mean = c->likelihood == VAE_GAUSSIAN && c->mean == VAE_MEAN_LINEAR ? "none" : "sigmoid";
    from = c->latent_dim;
    for (i = 0; i < count && d->n_layers < VAE_MAX_LAYERS; i++) {
        vae_layer *L = &d->layer[d->n_layers];
        if (vae_layer_info(m, i, L) != VAE_OK)
            return -1;
        if (!L->decoder)
            continue;
        if (shape_size(L->in) != from)
            return -1;
        from = shape_size(L->out);
        d->n_layers++;
    }
    return d->n_layers > 0 && from == c->input_dim ? 0 : -1;
}

/* Tensor name (count values) as base64 of little-endian float32, in
   quotes. 0, or -1 when it cannot be read or memory runs out. */
static int out_tensor(html_buf *b, vae *m, const char *name, size_t count)
{
    float *values = malloc(count * sizeof *values);
    unsigned char *raw = (unsigned char *)values;
    size_t i;
    if (!values || vae_get_tensor(m, name, values, count) != VAE_OK) {
        free(values);
        return -1;
    }
    for (i = 0; i < count; i++) { /* in place: value i becomes raw[4i..4i+3] */
        uint32_t u;
        memcpy(&u, &values[i], 4);
        raw[4 * i] = (unsigned char)(u & 0xff);
        raw[4 * i + 1] = (unsigned char)(u >> 8 & 0xff);
        raw[4 * i + 2] = (unsigned char)(u >> 16 & 0xff);
        raw[4 * i + 3] = (unsigned char)(u >> 24);
    }
    out_bytes(b, "\"", 1);
    out_base64(b, raw, count * 4);
    out_bytes(b, "\"", 1);
    free(values);
    return 0;
}

// ---- the sections ----

static void out_not_available(html_buf *b, const char *what)
{
    out_format(b, "<p class=\"na\">%s: not available.</p>\n", what);
}

static void section_start(html_buf *b, const char *id, const char *title, int wide)
{
    out_format(b, "<section class=\"card%s\" id=\"%s\">\n<h2>%s</h2>\n", wide ? " wide" : "", id, title);
}

/* The configuration as a table: one row per "key value" line. */
static void out_config(html_buf *b, const char *text)
{
    section_start(b, "configuration", "Configuration", 0);
    if (!text) {
        out_not_available(b, "Configuration");
    } else {
        out_text(b, "<table>\n");
        while (*text) {
            size_t line = strcspn(text, "\n"), key, gap, end = line;
            if (end > 0 && text[end - 1] == '\r')
                end--;
            key = strcspn(text, " \t\r\n");
            for (gap = key; gap < end && (text[gap] == ' ' || text[gap] == '\t'); gap++)
                ;
            if (end > 0) {
                out_text(b, "<tr><th>");
                out_escaped_n(b, text, key < end ? key : end);
                out_text(b, "</th><td>");
                out_escaped_n(b, text + gap, end - gap);
                out_text(b, "</td></tr>\n");
            }
            text += line + (text[line] == '\n');
        }
        out_text(b, "</table>\n");
    }
    out_text(b, "</section>\n");
}

static void out_svg_section(html_buf *b, const char *id, const char *title, const char *svg, int wide)
{
    section_start(b, id, title, wide);
    if (svg) {
        out_text(b, "<div class=\"figure\">\n");
        out_svg(b, svg);
        out_text(b, "\n</div>\n");
    } else {
        out_not_available(b, title);
    }
    out_text(b, "</section>\n");
}

/* A PNG as a data: URI, scaled up by a whole factor (at most 4) towards
   360 pixels when its header gives its size. */
static void out_png_section(html_buf *b, const char *id, const char *title, const unsigned char *png,
                            size_t len)
{
    static const unsigned char signature[8] = {137, 'P', 'N', 'G', '\r', '\n', 26, '\n'};
    section_start(b, id, title, 0);
    if (!png || len == 0) {
        out_not_available(b, title);
    } else {
        out_format(b, "<div class=\"figure\">\n<img class=\"pixels\" alt=\"%s\"", title);
        if (len >= 24 && memcmp(png, signature, 8) == 0 && memcmp(png + 12, "IHDR", 4) == 0) {
            unsigned long w = (unsigned long)png[16] << 24 | (unsigned long)png[17] << 16 |
                              (unsigned long)png[18] << 8 | png[19];
            unsigned long h = (unsigned long)png[20] << 24 | (unsigned long)png[21] << 16 |
                              (unsigned long)png[22] << 8 | png[23];
            unsigned long side = w > h ? w : h, s = side ? 360 / side : 0;
            s = s < 1 ? 1 : s > 4 ? 4 : s;
            if (w > 0 && h > 0 && side <= 100000)
                out_format(b, " width=\"%lu\" height=\"%lu\"", w * s, h * s);
        }
        out_text(b, " src=\"data:image/png;base64,");
        out_base64(b, png, len);
        out_text(b, "\">\n</div>\n");
    }
    out_text(b, "</section>\n");
}

static void out_explorer(html_buf *b)
{
    section_start(b, "explorer", "Explorer", 1);
    out_text(b, "<p class=\"hint\" id=\"hint\">The explorer needs JavaScript.</p>\n"
                "<div class=\"explorer\">\n"
                "<canvas id=\"plane\" width=\"256\" height=\"256\" tabindex=\"0\""
                " aria-label=\"latent plane: drag to choose z\"></canvas>\n"
                "<canvas id=\"image\" width=\"1\" height=\"1\" aria-label=\"decoded image\"></canvas>\n"
                "<div class=\"sliders\" id=\"sliders\"></div>\n"
                "</div>\n"
                "<p class=\"z\">z = <output id=\"z-values\"></output></p>\n"
                "</section>\n");
}

// ---- the model's data, for the script ----

/* (rows, cols, channels) of the images: the configuration's, else a
   square when D is one, else one row. */
static void image_geometry(const vae_config *c, int g[3])
{
    int side = (int)(sqrt((double)c->input_dim) + 0.5);
    if (c->image_rows > 0 && c->image_cols > 0 && c->image_channels > 0 &&
        (long long)c->image_rows * c->image_cols * c->image_channels == c->input_dim) {
        g[0] = c->image_rows, g[1] = c->image_cols, g[2] = c->image_channels;
    } else if (side * side == c->input_dim) {
        g[0] = g[1] = side, g[2] = 1;
    } else {
        g[0] = 1, g[1] = c->input_dim, g[2] = 1;
    }
}

/* The explorer's plane, z = mean + a dir[0] + b dir[1] with |a| <= extent[0]
   and |b| <= extent[1]. Z == 2: z itself, each in [-3, 3]. Z > 2: the
   inputs' (a zero mean, the first two axes, +-3, where they give none). */
static void out_plane(html_buf *b, const report_inputs *in, int Z)
{
    int own = Z > 2, i, d;
    out_text(b, "\"plane\": {\"mean\": [");
    for (i = 0; i < Z; i++) {
        out_text(b, i ? "," : "");
        out_number(b, own && in->plane_mean ? in->plane_mean[i] : 0.0, 17);
    }
    out_text(b, "], \"dir\": [");
    for (d = 0; d < 2; d++) {
        out_text(b, d ? ", [" : "[");
        for (i = 0; i < Z; i++) {
            out_text(b, i ? "," : "");
            out_number(b, own && in->plane_dir ? in->plane_dir[(size_t)d * Z + i] : (double)(i == d), 17);
        }
        out_text(b, "]");
    }
    out_text(b, "], \"extent\": [");
    for (d = 0; d < 2; d++) {
        double e = in->extent[d];
        out_text(b, d ? ", " : "");
        out_number(b, own && isfinite(e) && e > 0 ? e : 3.0, 17);
    }
    out_text(b, "]}");
}

/* The JSON block the script reads. 0, or -1 when a tensor cannot be read. */
static int out_model_data(html_buf *b, vae *m, const decoder_shape *d, const report_inputs *in)
{
    const vae_config *c = vae_get_config(m);
    int g[3], l, i, j;
    image_geometry(c, g);
    out_text(b, "<script type=\"application/json\" id=\"model\">\n{");
    out_format(b, "\"latent\": %d, \"geometry\": [%d, %d, %d],\n", c->latent_dim, g[0], g[1], g[2]);
    out_text(b, "\"layers\": [\n");
    for (l = 0; l < d->n_layers; l++) {
        const vae_layer *L = &d->layer[l];
        int spatial = strcmp(L->kind, "fc") != 0;
        char name[32];
        out_format(b, "{\"name\": \"%s\", \"kind\": \"%s\", \"in\": [%d, %d, %d], \"out\": [%d, %d, %d], "
                      "\"k\": %d, \"s\": %d, \"p\": %d, \"act\": \"%s\",\n\"weight\": ",
                   L->name, L->kind, L->in[0], L->in[1], L->in[2], L->out[0], L->out[1], L->out[2], L->kernel, L->stride, L->pad,
                   l + 1 < d->n_layers ? L->activation : d->mean);
        snprintf(name, sizeof name, "%s.weight", L->name);
        if (out_tensor(b, m, name,
                       spatial ? (size_t)L->in[0] * L->out[0] * L->kernel * L->kernel
                               : (size_t)shape_size(L->in) * (size_t)shape_size(L->out)) != 0)
            return -1;
        out_text(b, ",\n\"bias\": ");
        snprintf(name, sizeof name, "%s.bias", L->name);
        if (out_tensor(b, m, name, spatial ? (size_t)L->out[0] : (size_t)shape_size(L->out)) != 0)
            return -1;
        out_text(b, l + 1 < d->n_layers ? "},\n" : "}\n");
    }
    out_text(b, "],\n");
    if (c->latent_dim >= 2)
        out_plane(b, in, c->latent_dim);
    else
        out_text(b, "\"plane\": null");
    out_text(b, ",\n\"check\": [");
    for (i = 0; i < in->n_check; i++) {
        out_text(b, i ? ",\n[" : "\n[");
        for (j = 0; j < c->latent_dim; j++) {
            if (j)
                out_bytes(b, ",", 1);
            out_number(b, in->check_z[(size_t)i * c->latent_dim + j], 9);
        }
        out_bytes(b, "]", 1);
    }
    out_text(b, "]}\n</script>\n");
    return 0;
}

// ---- the page ----

int report_html(vae *m, const report_inputs *in, char **html)
{
    html_buf b = {NULL, 0, 0, 0};
    decoder_shape d;
    const vae_config *c;
    const char *title;

    if (html)
        *html = NULL;
    if (!m || !in || !html || in->n_check < 0 || (in->n_check > 0 && !in->check_z))
        return -1;
    if (!(c = vae_get_config(m)) || find_decoder(m, &d) != 0)
        return -1;
    title = in->title ? in->title : "VAE report";

    out_text(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
    out_escaped(&b, title);
    out_text(&b, in->title ? " \xe2\x80\x94 VAE report</title>\n<style>\n" : "</title>\n<style>\n");
    out_lines(&b, page_style);
    out_text(&b, "</style>\n<script>\n");
    out_lines(&b, error_script);
    out_text(&b, "</script>\n</head>\n<body>\n<header>\n<h1>");
    out_escaped(&b, title);
    out_text(&b, "</h1>\n<p class=\"summary\">");
    out_escaped(&b, in->summary ? in->summary : "Final bounds: not available.");
    out_text(&b, "</p>\n</header>\n<pre id=\"errors\"></pre>\n<main>\n");

    out_explorer(&b);
    out_svg_section(&b, "curves", "Training curves", in->curves_svg, 1);
    out_png_section(&b, "samples", "Samples", in->samples_png, in->samples_len);
    out_png_section(&b, "reconstructions", "Reconstructions", in->recon_png, in->recon_len);
    out_svg_section(&b, "scatter", "Latent codes", in->scatter_svg, 0);
    out_config(&b, in->config_text);

    out_text(&b, "</main>\n<pre id=\"selftest\"></pre>\n");
    if (out_model_data(&b, m, &d, in) != 0) {
        free(b.text);
        return -1;
    }
    out_text(&b, "<script>\n");
    out_lines(&b, explorer_script);
    out_text(&b, "</script>\n</body>\n</html>\n");

    if (b.failed) {
        free(b.text);
        return -1;
    }
    *html = b.text;
    return 0;
}
