// tests/test_playground.js - the playground (web/, served at / by `nanogen serve`) in a real
// browser: Chromium driven by playwright-core. Run by tests/test_playground.sh, which trains the
// models and starts the server; alone:
//   node tests/test_playground.js --url http://127.0.0.1:PORT/ --chromium /usr/bin/chromium \
//       --text MODEL --vae MODEL --gan MODEL --prompt TEXT [--key KEY] [--screenshots DIR]
// Each check prints "ok   WHAT" or "FAIL WHAT: WHY"; the exit status is 1 when one failed.
// What the page shows is compared with the API's own answer to the same request, made here
// directly: the streamed tokens and each one's shading (its probability), the hover card, the
// next-token chart before and after the temperature slider moves, every cell of the attention
// heat map, and the image views' pictures byte for byte (sample grid, decoded latent, walk).
// No timing is measured: every wait is for a state of the page, with a generous limit.
'use strict';
const fs = require('fs'), path = require('path');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['url', 'chromium', 'text', 'prompt'])
    if (!args[k]) { console.error('usage: node tests/test_playground.js --url URL --chromium PATH --text MODEL --prompt TEXT [--vae MODEL] [--gan MODEL] [--key KEY] [--screenshots DIR]'); process.exit(2); }
const BASE = args.url.replace(/\/$/, '');

function loadPlaywright() {
    try { return require('playwright-core'); } catch (e) { /* not on the default path */ }
    const cache = process.env.XDG_CACHE_HOME || path.join(process.env.HOME || '', '.cache');
    return require(path.join(cache, 'nanogen', 'npm', 'node_modules', 'playwright-core'));
}

let passed = 0, failed = 0;
function ok(what) { passed++; console.log('ok   ' + what); }
function bad(what, why) { failed++; console.log('FAIL ' + what + ': ' + why); }
function check(what, cond, why) { if (cond) ok(what); else bad(what, why || 'not so'); return !!cond; }

// the shading rule of web/app.js (probColor), written out again: p 0 red, 0.5 yellow, 1 green
function probColor(p) {
    const S = [[254, 202, 202], [254, 240, 138], [187, 247, 208]];
    p = Math.min(1, Math.max(0, p));
    const s = p < 0.5 ? 0 : 1, t = p < 0.5 ? p / 0.5 : (p - 0.5) / 0.5;
    return [0, 1, 2].map((k) => Math.round(S[s][k] + (S[s + 1][k] - S[s][k]) * t));
}
// the heat map's rule (heatColor): weight 0 near-white, 0.5 blue, 1 deep blue
function heatColor(w) {
    const S = [[248, 250, 252], [96, 165, 250], [30, 58, 138]];
    w = Math.min(1, Math.max(0, w));
    const s = w < 0.5 ? 0 : 1, t = w < 0.5 ? w / 0.5 : (w - 0.5) / 0.5;
    return [0, 1, 2].map((k) => Math.round(S[s][k] + (S[s + 1][k] - S[s][k]) * t));
}
const rgb = (s) => (s.match(/\d+/g) || []).slice(0, 3).map(Number);
const near = (a, b, tol) => a.length === b.length && a.every((x, i) => Math.abs(x - b[i]) <= tol);
const close = (a, b, rel) => Math.abs(a - b) <= rel * Math.max(1e-12, Math.abs(a), Math.abs(b));

async function api(route, body, key) {
    const headers = { 'Content-Type': 'application/json' };
    if (key) headers.Authorization = 'Bearer ' + key;
    const res = await fetch(BASE + route, { method: body ? 'POST' : 'GET', headers, body: body ? JSON.stringify(body) : undefined });
    const type = res.headers.get('content-type') || '';
    const data = /json/.test(type) ? await res.json() : Buffer.from(await res.arrayBuffer());
    return { status: res.status, type, data };
}
// the bytes of the picture an <img> shows (a blob: URL), base64
const imgBytes = (page, sel) => page.$eval(sel, async (img) => {
    const b = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
    let s = '';
    for (const x of b) s += String.fromCharCode(x);
    return btoa(s);
});
async function shot(page, name) {
    if (!args.screenshots) return;
    const f = path.join(args.screenshots, 'playground-' + name + '.png');
    await page.screenshot({ path: f });
    console.log('# screenshot ' + f + ' (' + fs.statSync(f).size + ' bytes)');
}
// wait for a condition in the page; false (not an exception) when it never holds
async function until(page, fn, arg, ms) {
    try { await page.waitForFunction(fn, arg, { timeout: ms || 60000, polling: 50 }); return true; } catch (e) { return false; }
}

async function main() {
    const { chromium } = loadPlaywright();
    const browser = await chromium.launch({ executablePath: args.chromium, args: ['--no-sandbox'] });
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 }, deviceScaleFactor: 1 });
    const consoleErrors = [];
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    const outside = [];
    page.on('request', (r) => { if (!r.url().startsWith(BASE + '/') && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) outside.push(r.url()); });
    const KEY = args.key || '';
    try {
        await run(page, KEY);
    } catch (e) {
        bad('the browser run', (e && e.stack) || String(e));
    }
    check('no uncaught script errors in the page', consoleErrors.length === 0, consoleErrors.join('; '));
    check('the page asks nothing of any host but the server (works offline)', outside.length === 0, outside.join(' '));
    await browser.close();
}

async function run(page, KEY) {
    /* ------------------------------------------------------------ loading, the API key */
    await page.goto(BASE + '/');
    check('the page loads: title, model picker, message area', (await page.title()).includes('nanogen') &&
        await page.$('#model') !== null && await page.$('#message') !== null, 'title ' + await page.title());
    if (KEY) {
        const direct = await api('/v1/models');
        const shown = await until(page, () => !document.getElementById('message').hidden);
        const text = shown ? await page.textContent('#message-text') : '';
        check('no key: the API\'s 401 error.message is shown in the message area', direct.status === 401 && shown &&
            text.includes(direct.data.error.message), 'API ' + direct.status + ' ' + JSON.stringify(direct.data) + ', page shows "' + text + '"');
        await page.fill('#api-key', KEY);
        const loaded = await until(page, (m) => [...document.querySelectorAll('#model option')].some((o) => o.value === m), args.text);
        check('with the key typed in, the models load and the message goes away', loaded && await page.$eval('#message', (e) => e.hidden), 'models not listed');
        await page.reload();
        check('the key is kept (localStorage) and sent after a reload', await page.inputValue('#api-key') === KEY &&
            await until(page, (m) => [...document.querySelectorAll('#model option')].some((o) => o.value === m), args.text), 'key field "' + await page.inputValue('#api-key') + '"');
    }
    const models = (await api('/v1/models', null, KEY)).data.data.map((m) => m.id);
    await until(page, () => document.querySelectorAll('#model option').length > 0);
    const listed = await page.$$eval('#model option', (os) => os.map((o) => o.value));
    check('the model picker lists GET /v1/models', JSON.stringify(listed) === JSON.stringify(models), 'page ' + listed + ', API ' + models);

    /* ------------------------------------------------------------ text: generate */
    await page.selectOption('#model', args.text);
    check('a text model shows the text view', await page.isVisible('#text-view') && !await page.isVisible('#image-view'), 'views');
    await page.fill('#prompt', args.prompt);
    await page.fill('#seed', '1234');
    await page.fill('#max-tokens', '48');
    // top-k 20 and top-p 0.95 (set as a user's key presses would leave them: value, then input)
    await page.$$eval('#top-k, #top-p', (els) => els.forEach((e) => {
        e.value = e.id === 'top-k' ? '20' : '0.95';
        e.dispatchEvent(new Event('input', { bubbles: true }));
    }));
    check('the top-k and top-p sliders show their values', await page.textContent('#top-k-value') === '20' &&
        await page.textContent('#top-p-value') === '0.95', await page.textContent('#top-k-value') + ' ' + await page.textContent('#top-p-value'));
    const T = Number(await page.inputValue('#temperature'));
    await page.click('#generate');
    const done = await until(page, () => document.getElementById('output').dataset.state === 'done', null, 120000);
    const toks = await page.$$eval('#output .tok', (ss) => ss.map((s) => ({
        text: s.dataset.token, prob: Number(s.dataset.prob), top: JSON.parse(s.dataset.top || '{}'),
        bg: getComputedStyle(s).backgroundColor,
    })));
    check('generate: tokens stream in (48 token spans, finish "length")', done && toks.length === 48 &&
        await page.$eval('#output', (o) => o.dataset.finish) === 'length', 'done ' + done + ', ' + toks.length + ' tokens, finish ' + await page.$eval('#output', (o) => o.dataset.finish));
    const ref = await api('/v1/completions', { model: args.text, prompt: args.prompt, max_tokens: 48, temperature: T,
        top_p: 0.95, top_k: 20, seed: 1234, logprobs: 5 }, KEY);
    const lp = ref.status === 200 && ref.data.choices[0].logprobs;
    if (!check('the API answers the same completion without streaming', lp && lp.tokens.length === 48, JSON.stringify(ref.data).slice(0, 300))) return;
    check('the page shows the API\'s tokens (same seed, temperature, top-k, top-p)', JSON.stringify(toks.map((t) => t.text)) === JSON.stringify(lp.tokens),
        'page ' + JSON.stringify(toks.map((t) => t.text).join('')) + ', API ' + JSON.stringify(ref.data.choices[0].text));
    let shadeBad = [], topBad = [];
    toks.forEach((t, i) => {
        const p = Math.exp(lp.token_logprobs[i]);
        if (!close(t.prob, p, 1e-5) || !near(rgb(t.bg), probColor(p), 1)) shadeBad.push(i + ': page p ' + t.prob + ' ' + t.bg + ', API p ' + p + ' rgb(' + probColor(p) + ')');
        const want = lp.top_logprobs[i], got = t.top;
        const same = Object.keys(want).length === Object.keys(got).length && Object.keys(want).every((k) => close(got[k], want[k], 1e-5));
        if (!same) topBad.push(i + ': page ' + JSON.stringify(got) + ', API ' + JSON.stringify(want));
    });
    check('each token\'s shading is its probability exp(token_logprob) from the API', shadeBad.length === 0, shadeBad.slice(0, 3).join('; '));
    // the page's rule over the whole range, not only at the probabilities this model happened to give
    const rule = await page.evaluate(() => [0, 0.1, 0.25, 0.5, 0.6, 0.75, 0.9, 1].map((p) => window.nanogenPlayground.probColor(p)));
    const ruleBad = [0, 0.1, 0.25, 0.5, 0.6, 0.75, 0.9, 1].filter((p, i) => !near(rgb(rule[i]), probColor(p), 0));
    check('the shading runs red (p 0) through yellow (0.5) to green (1)', ruleBad.length === 0, 'differs at p ' + ruleBad.join(', '));
    check('each token carries the API\'s top-5 alternatives', topBad.length === 0, topBad.slice(0, 3).join('; '));
    // hover a token: its probability and alternatives
    let hi = 0;
    toks.forEach((t, i) => { if (t.text.trim() && Object.keys(t.top).length >= 3 && (!toks[hi].text.trim() || t.prob < toks[hi].prob)) hi = i; });
    await page.hover('#output .tok[data-index="' + hi + '"]');
    const tipShown = await until(page, () => !document.getElementById('tooltip').hidden, null, 5000);
    const tip = tipShown ? await page.textContent('#tooltip') : '';
    const rows = tipShown ? await page.$$eval('#tooltip .tip-row', (r) => r.length) : 0;
    check('hovering a token shows its probability and the top alternatives', tipShown && tip.includes(toks[hi].prob.toFixed(4)) &&
        rows === Object.keys(toks[hi].top).length, 'tooltip "' + tip + '", ' + rows + ' rows');

    /* ------------------------------------------------------------ text: the next-token chart */
    const chartAt = async (t) => {
        const drawn = await until(page, (t) => { const c = document.getElementById('next-chart'); return c.dataset.state === 'drawn' && Number(c.dataset.temperature) === t; }, t, 30000);
        if (!drawn) return null;
        return page.$$eval('#next-chart .row[data-token]', (rs) => rs.map((r) => ({
            token: r.dataset.token, probs: [...r.querySelectorAll('.bar')].map((b) => Number(b.dataset.prob)),
            width: [...r.querySelectorAll('.bar')].map((b) => b.style.width) })));
    };
    const nextRef = async (t) => (await api('/v1/nanogen/next', { model: args.text, prompt: args.prompt, temperatures: [0.5, 1, 1.5, t], top: 12 }, KEY)).data;
    const chartMatches = (chart, j) => chart && j.tokens && chart.length === j.tokens.length && chart.every((r, i) =>
        r.token === j.tokens[i].text && r.probs.length === 4 && r.probs.every((p, k) => close(p, j.tokens[i].probs[k], 1e-5)) &&
        r.width.every((w, k) => Math.abs(parseFloat(w) - 100 * j.tokens[i].probs[k] / maxProb(j)) < 0.01));
    // the bars' scale: the largest probability shown (rows and "other") fills the width
    const maxProb = (j) => Math.max(...j.tokens.flatMap((t) => t.probs), ...(j.other || []));
    const before = await chartAt(T);
    check('the next-token chart shows /v1/nanogen/next at T 0.5, 1, 1.5 and the slider\'s ' + T, chartMatches(before, await nextRef(T)),
        JSON.stringify(before && before.slice(0, 2)));
    await page.mouse.move(5, 5);
    // move the temperature slider with the mouse: from its thumb to 80% of its track
    const box = await (await page.$('#temperature')).boundingBox();
    const thumbX = box.x + box.width * (T / 2);
    await page.mouse.move(thumbX, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 4 });
    await page.mouse.move(box.x + box.width * 0.8, box.y + box.height / 2, { steps: 4 });
    await page.mouse.up();
    const T2 = Number(await page.inputValue('#temperature'));
    check('dragging the temperature slider moves it (' + T + ' -> ' + T2 + ')', T2 > T + 0.3, 'value ' + T2);
    const after = await chartAt(T2);
    const slider = (c) => c ? c.map((r) => r.probs[3]).join(',') : '';
    check('the chart\'s slider bars change with the temperature', after && slider(after) !== slider(before), 'before ' + slider(before) + ', after ' + slider(after));
    check('the chart after the move is /v1/nanogen/next at T ' + T2, chartMatches(after, await nextRef(T2)), JSON.stringify(after && after.slice(0, 2)));
    if (args.screenshots) {   // the text view with a token's hover card open
        await page.hover('#output .tok[data-index="' + hi + '"]');
        await until(page, () => !document.getElementById('tooltip').hidden, null, 5000);
        await shot(page, 'text');
        await page.mouse.move(5, 5);
    }

    /* ------------------------------------------------------------ text: attention */
    await page.click('#tab-attention');
    check('the attention tab shows the attention view', await page.isVisible('#view-attention') && !await page.isVisible('#view-generate'), 'views');
    const att = (await api('/v1/nanogen/attention', { model: args.text, prompt: args.prompt }, KEY)).data;
    const heat = async (layer, head) => {
        const drawn = await until(page, (lh) => { const c = document.getElementById('attn-canvas'); return c.dataset.drawn === '1' && c.dataset.layer === lh[0] && c.dataset.head === lh[1]; }, [String(layer), String(head)], 30000);
        if (!drawn) return 'no heat map drawn for layer ' + layer + ' head ' + head;
        // every cell's centre pixel against the API's weight (mean over heads for 'mean')
        const px = await page.$eval('#attn-canvas', (cv) => {
            const d = cv.dataset, n = Number(d.n), cell = Number(d.cell), s = cv.width / parseFloat(cv.style.width);
            const img = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height), out = [];
            for (let i = 0; i < n; i++) {
                out.push([]);
                for (let j = 0; j < n; j++) {
                    const x = Math.floor((Number(d.ox) + j * cell + cell / 2) * s), y = Math.floor((Number(d.oy) + i * cell + cell / 2) * s);
                    const o = (y * img.width + x) * 4;
                    out[i].push([img.data[o], img.data[o + 1], img.data[o + 2]]);
                }
            }
            return out;
        });
        const n = att.tokens.length;
        if (px.length !== n) return 'the map has ' + px.length + ' rows, the prompt ' + n + ' tokens';
        const H = att.attention[layer];
        for (let i = 0; i < n; i++)
            for (let j = 0; j < n; j++) {
                const w = head === 'mean' ? H.reduce((s, h) => s + h[i][j], 0) / H.length : H[head][i][j];
                const want = j > i ? [255, 255, 255] : heatColor(w);
                if (!near(px[i][j], want, 2)) return 'cell (' + i + ', ' + j + ') is rgb(' + px[i][j] + '), the API\'s weight ' + w + ' is rgb(' + want + ')';
            }
        return '';
    };
    const first = await heat(0, att.n_head > 1 ? 'mean' : 0);
    check('the heat map is drawn: each cell the API\'s attention weight (layer 0, mean of heads)', first === '', first);
    const L = att.n_layer - 1, Hh = att.n_head - 1;
    await page.selectOption('#attn-layer', String(L));
    await page.selectOption('#attn-head', String(Hh));
    const second = await heat(L, Hh);
    check('the layer and head pickers redraw it (layer ' + L + ', head ' + Hh + ')', second === '', second);
    await page.hover('#attn-canvas', { position: { x: 0, y: 0 } }).catch(() => {});
    await shot(page, 'attention');
    await page.click('#tab-generate');

    /* ------------------------------------------------------------ an API error in the message area */
    await page.fill('#prompt', '\u20ac\u20ac');
    const errRef = (await api('/v1/nanogen/next', { model: args.text, prompt: '\u20ac\u20ac', temperatures: [0.5, 1, 1.5, T2], top: 12 }, KEY));
    const errShown = await until(page, () => !document.getElementById('message').hidden, null, 30000);
    const errText = errShown ? await page.textContent('#message-text') : '';
    check('an API error (a prompt character the vocabulary lacks) shows its error.message', errRef.status === 400 && errShown &&
        errText.includes(errRef.data.error.message), 'API ' + errRef.status + ' ' + JSON.stringify(errRef.data) + ', page "' + errText + '"');
    await page.fill('#prompt', args.prompt);
    check('the message goes once the prompt is fixed', await until(page, () => document.getElementById('message').hidden, null, 30000), await page.textContent('#message-text'));

    /* ------------------------------------------------------------ images: a VAE with a 2-D latent */
    if (args.vae) {
        await page.selectOption('#model', args.vae);
        check('an image model shows the image view', await page.isVisible('#image-view') && !await page.isVisible('#text-view'), 'views');
        check('a 2-D VAE has the latent explorer and the walk', await page.isVisible('#latent-card') && await page.isVisible('#walk-card'), 'cards');
        const man = await until(page, () => Number(document.getElementById('manifold-img').dataset.version) > 0 &&
            Number(document.getElementById('decode-img').dataset.version) > 0, null, 60000);
        const manRef = await api('/v1/nanogen/images/manifold', { model: args.vae, n: 10 }, KEY);
        check('the explorer shows the manifold PNG and the picture decoded at its centre', man &&
            (await imgBytes(page, '#manifold-img')) === manRef.data.toString('base64'), 'manifold ' + man + ', API ' + manRef.status);
        await page.fill('#sample-n', '16');
        await page.fill('#sample-seed', '5');
        await page.click('#sample-run');
        const smp = await until(page, () => Number(document.getElementById('sample-img').dataset.version) > 0 && document.getElementById('sample-img').naturalWidth > 0);
        const smpRef = await api('/v1/nanogen/images/sample', { model: args.vae, n: 16, seed: 5 }, KEY);
        check('the sample button shows the API\'s grid PNG (seed 5)', smp && smpRef.type.startsWith('image/png') &&
            (await imgBytes(page, '#sample-img')) === smpRef.data.toString('base64'), 'loaded ' + smp + ', API ' + smpRef.status + ' ' + smpRef.type);
        // drag the point from the centre to the upper right
        const v0 = Number(await page.$eval('#decode-img', (i) => i.dataset.version)), z0 = await page.$eval('#decode-img', (i) => i.dataset.z);
        const pb = await (await page.$('#latent-pad')).boundingBox();
        await page.mouse.move(pb.x + pb.width / 2, pb.y + pb.height / 2);
        await page.mouse.down();
        for (let k = 1; k <= 6; k++) await page.mouse.move(pb.x + pb.width * (0.5 + 0.05 * k), pb.y + pb.height * (0.5 - 0.05 * k));
        await page.mouse.up();
        // the page decodes the latest point once the decode in flight returns: wait for the
        // picture of the point where the drag ended
        const settled = await until(page, () => {
            const i = document.getElementById('decode-img'), p = document.getElementById('latent-point');
            return Math.abs(Number(p.dataset.u) - 0.8) < 0.02 && i.dataset.z === p.dataset.z;
        }, null, 60000);
        const z1 = await page.$eval('#decode-img', (i) => i.dataset.z);
        const v1 = Number(await page.$eval('#decode-img', (i) => i.dataset.version));
        const decRef = await api('/v1/nanogen/images/decode', { model: args.vae, z: JSON.parse(z1 || '[0,0]') }, KEY);
        check('dragging the point decodes the picture at the new z (' + z0 + ' -> ' + z1 + ')', settled && v1 > v0 && z1 !== z0 &&
            (await imgBytes(page, '#decode-img')) === decRef.data.toString('base64'), 'settled ' + settled + ', versions ' + v0 + ' -> ' + v1);
        await page.fill('#walk-steps', '10');
        await page.fill('#walk-seed', '3');
        await page.click('#walk-run');
        const wk = await until(page, () => Number(document.getElementById('walk-img').dataset.version) > 0 && document.getElementById('walk-img').naturalWidth > 0);
        const wkRef = await api('/v1/nanogen/images/interpolate', { model: args.vae, steps: 10, seed: 3 }, KEY);
        check('the walk button shows the API\'s interpolation PNG (10 steps, seed 3)', wk &&
            (await imgBytes(page, '#walk-img')) === wkRef.data.toString('base64'), 'loaded ' + wk + ', API ' + wkRef.status);
        await shot(page, 'images');
    }

    /* ------------------------------------------------------------ images: a GAN */
    if (args.gan) {
        await page.selectOption('#model', args.gan);
        const g = (await api('/v1/models', null, KEY)).data.data.find((m) => m.id === args.gan).nanogen;
        check('a GAN has the walk' + (g.latent === 2 ? ' and the explorer' : ', no explorer (latent ' + g.latent + ')'),
            await page.isVisible('#walk-card') && await page.isVisible('#latent-card') === (g.latent === 2), 'cards');
        await page.fill('#walk-seed', '4');
        await page.click('#walk-run');
        const wk = await until(page, () => Number(document.getElementById('walk-img').dataset.version) > 0 && !document.getElementById('walk-img').hidden);
        const wkRef = await api('/v1/nanogen/images/interpolate', { model: args.gan, steps: 10, seed: 4 }, KEY);
        check('the GAN walk shows the API\'s interpolation PNG', wk && (await imgBytes(page, '#walk-img')) === wkRef.data.toString('base64'), 'loaded ' + wk + ', API ' + wkRef.status);
        await page.fill('#sample-seed', '6');
        await page.click('#sample-run');
        const smp = await until(page, () => Number(document.getElementById('sample-img').dataset.version) > 0 && !document.getElementById('sample-img').hidden);
        const smpRef = await api('/v1/nanogen/images/sample', { model: args.gan, n: 16, seed: 6 }, KEY);
        check('the GAN sample grid shows the API\'s PNG', smp && (await imgBytes(page, '#sample-img')) === smpRef.data.toString('base64'), 'loaded ' + smp + ', API ' + smpRef.status);
        check('no error message after the image views', await page.$eval('#message', (e) => e.hidden), await page.textContent('#message-text'));
    }
}

main().then(() => {
    console.log('# playground: ' + passed + ' passed, ' + failed + ' failed');
    process.exit(failed ? 1 : 0);
}, (e) => { console.log('FAIL the browser: ' + ((e && e.stack) || e)); process.exit(1); });
