/* nanogen playground: plain JavaScript, no framework, no network beyond the server that
 * serves this page. It calls the HTTP API of `nanogen serve` (README, "Serving"):
 *   GET  /v1/models                      the model picker
 *   POST /v1/completions (stream: true)  text streaming in, each token shaded by its probability
 *   POST /v1/nanogen/next                the next-token bar chart at several temperatures
 *   POST /v1/nanogen/attention           the attention heat map
 *   POST /v1/nanogen/images/{sample,manifold,decode,interpolate}   the image views (PNG)
 * tests/test_playground.js drives it in Chromium through the ids / data-testid attributes. */
'use strict';
(function () {
    const $ = (id) => document.getElementById(id);
    const KEY_STORE = 'nanogen.apiKey', MODEL_STORE = 'nanogen.model';
    const FIXED_TEMPS = [0.5, 1, 1.5];
    const SERIES_COLORS = ['#5eead4', '#60a5fa', '#c4b5fd', '#f59e0b'];
    const state = {
        models: [], model: null, gen: null, genTokens: 0, genStart: 0,
        nextSeq: 0, nextTimer: 0, attn: null, attnSeq: 0,
        urls: {}, decodeBusy: false, decodePending: null, decodeVersion: 0, z: [0, 0],
    };

    /* ------------------------------------------------------------------ helpers */
    // A token's probability p in [0, 1] -> its background: red (unlikely) through yellow to
    // green (likely), linear between the three stops (tests/test_playground.js has the same).
    const STOPS = [[254, 202, 202], [254, 240, 138], [187, 247, 208]];
    function probColor(p) {
        p = Math.min(1, Math.max(0, p));
        const s = p < 0.5 ? 0 : 1, t = p < 0.5 ? p / 0.5 : (p - 0.5) / 0.5;
        const c = [0, 1, 2].map((k) => Math.round(STOPS[s][k] + (STOPS[s + 1][k] - STOPS[s][k]) * t));
        return 'rgb(' + c.join(', ') + ')';
    }
    // attention weight w in [0, 1] -> a cell colour: near-white to deep blue
    const HEAT = [[248, 250, 252], [96, 165, 250], [30, 58, 138]];
    function heatColor(w) {
        w = Math.min(1, Math.max(0, w));
        const s = w < 0.5 ? 0 : 1, t = w < 0.5 ? w / 0.5 : (w - 0.5) / 0.5;
        const c = [0, 1, 2].map((k) => Math.round(HEAT[s][k] + (HEAT[s + 1][k] - HEAT[s][k]) * t));
        return 'rgb(' + c.join(', ') + ')';
    }
    // the inverse of the standard normal CDF (Acklam), as the server's manifold grid uses
    function normPpf(p) {
        const a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00];
        const b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01];
        const c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549671010322123e+00, 4.374664141464968e+00, 2.938163982698783e+00];
        const d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00];
        const lo = 0.02425;
        if (p < lo || p > 1 - lo) {
            const q = Math.sqrt(-2 * Math.log(p < lo ? p : 1 - p));
            const x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
            return p < lo ? x : -x;
        }
        const q = p - 0.5, r = q * q;
        return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    }
    // a token as shown in labels: whitespace made visible
    function vis(s) {
        if (s === '') return '∅';
        return s.replace(/ /g, '␣').replace(/\n/g, '↵').replace(/\t/g, '⇥').replace(/\r/g, '␍');
    }
    const pct = (p) => (p >= 0.995 ? (p * 100).toFixed(0) : p >= 0.0995 ? (p * 100).toFixed(1) : (p * 100).toFixed(2)) + '%';
    function el(tag, cls, text) {
        const e = document.createElement(tag);
        if (cls) e.className = cls;
        if (text !== undefined) e.textContent = text;
        return e;
    }
    function intOrNull(id) {
        const v = $(id).value.trim();
        if (v === '') return null;
        const n = Number(v);
        return Number.isFinite(n) ? Math.trunc(n) : null;
    }

    /* ------------------------------------------------------------------ messages */
    function showError(msg) {
        $('message-text').textContent = msg;
        $('message').hidden = false;
    }
    function clearError() { $('message').hidden = true; $('message-text').textContent = ''; state.errSrc = ''; }
    $('message-close').addEventListener('click', clearError);

    /* ------------------------------------------------------------------ the API */
    class ApiError extends Error {
        constructor(message, status) { super(message); this.status = status; }
    }
    function headers(json) {
        const h = {};
        if (json) h['Content-Type'] = 'application/json';
        const k = $('api-key').value.trim();
        if (k) h.Authorization = 'Bearer ' + k;
        return h;
    }
    // the error.message of an OpenAI-shaped error body, else the status line
    async function errorOf(res) {
        let msg = 'HTTP ' + res.status + (res.statusText ? ' ' + res.statusText : '');
        try {
            const j = JSON.parse(await res.text());
            if (j && j.error && j.error.message) msg = j.error.message;
        } catch (e) { /* not JSON: keep the status */ }
        return new ApiError(msg, res.status);
    }
    async function request(path, body, signal) {
        let res;
        try {
            res = await fetch(path, {
                method: body === undefined ? 'GET' : 'POST', headers: headers(body !== undefined),
                body: body === undefined ? undefined : JSON.stringify(body), signal,
            });
        } catch (e) {
            if (e.name === 'AbortError') throw e;
            throw new ApiError('cannot reach the server (' + e.message + ')', 0);
        }
        if (!res.ok) throw await errorOf(res);
        return res;
    }
    const apiJson = async (path, body, signal) => (await request(path, body, signal)).json();
    async function apiPng(path, body) {
        const res = await request(path, body);
        const blob = await res.blob();
        if (!/^image\/png/.test(blob.type)) throw new ApiError(path + ' answered ' + (blob.type || 'no content type') + ', not a PNG', res.status);
        return blob;
    }
    // show an error; src names the view it came from, so that its next success can clear it
    function report(e, src) {
        if (!e || e.name === 'AbortError') return;
        showError(e.message || String(e));
        state.errSrc = src || '';
    }

    // show a PNG blob in an <img>, freeing the previous one; data-version counts the pictures shown
    function showPng(img, blob, attrs) {
        return new Promise((resolve) => {
            const url = URL.createObjectURL(blob);
            img.onload = () => {
                if (state.urls[img.id]) URL.revokeObjectURL(state.urls[img.id]);
                state.urls[img.id] = url;
                for (const k in attrs || {}) img.dataset[k] = attrs[k];
                img.dataset.version = String(Number(img.dataset.version || 0) + 1);
                img.hidden = false;
                resolve();
            };
            img.onerror = () => { URL.revokeObjectURL(url); showError('the server sent a picture the browser cannot show'); resolve(); };
            img.src = url;
        });
    }

    /* ------------------------------------------------------------------ models */
    async function loadModels() {
        const sel = $('model');
        try {
            const j = await apiJson('/v1/models');
            state.models = (j && j.data) || [];
        } catch (e) {
            state.models = [];
            sel.innerHTML = '';
            selectModel(null);
            if (e.status === 401) showError(e.message + ' (enter the API key above)');
            else report(e);
            return;
        }
        clearError();
        const keep = state.model ? state.model.id : localStorage.getItem(MODEL_STORE);
        sel.innerHTML = '';
        for (const m of state.models) {
            const o = el('option', '', m.id);
            o.value = m.id;
            const g = m.nanogen || {};
            o.textContent = m.id + (g.kind ? '  (' + g.kind + ')' : '');
            sel.appendChild(o);
        }
        const pick = state.models.find((m) => m.id === keep) || state.models[0] || null;
        if (pick) sel.value = pick.id;
        selectModel(pick);
    }
    const isText = (m) => !!(m && m.nanogen && (m.nanogen.text || ['gpt', 'bigram'].includes(m.nanogen.kind)));

    function describe(m) {
        const g = m.nanogen || {};
        const parts = [g.kind || 'model'];
        if (isText(m)) {
            if (g.tokenizer) parts.push(g.tokenizer + ' tokens (' + g.vocab_size + ')');
            if (g.n_layer) parts.push(g.n_layer + ' layers × ' + g.n_head + ' heads, width ' + g.n_embd);
            if (g.block_size) parts.push('context ' + g.block_size);
        } else {
            if (g.image) parts.push(g.image.c + '×' + g.image.h + '×' + g.image.w + ' pictures');
            if (g.latent) parts.push('latent ' + g.latent);
        }
        return parts.join(' · ');
    }

    function selectModel(m) {
        stopGeneration();
        state.model = m;
        state.attn = null;
        $('empty-view').hidden = !!m;
        $('text-view').hidden = !isText(m);
        $('image-view').hidden = !m || isText(m);
        $('model-info').textContent = m ? describe(m) : '';
        document.body.dataset.model = m ? m.id : '';
        if (!m) return;
        localStorage.setItem(MODEL_STORE, m.id);
        const g = m.nanogen || {};
        if (isText(m)) {
            $('output').innerHTML = '';
            $('gen-status').textContent = '';
            const tk = $('top-k');
            tk.max = String(g.vocab_size || 100);
            if (Number(tk.value) > Number(tk.max)) tk.value = '0';
            updateLabels();
            fillPicker($('attn-layer'), g.n_layer || 0, false);
            fillPicker($('attn-head'), g.n_head || 0, true);
            const canattend = (g.n_layer || 0) > 0 && g.kind !== 'bigram';
            $('tab-attention').disabled = !canattend;
            if (!canattend) showView('generate');
            clearCanvas();
            if (!$('view-attention').hidden && canattend) loadAttention();
            scheduleNext(0);
        } else {
            for (const id of ['sample-img', 'walk-img', 'decode-img']) { $(id).hidden = true; delete $(id).dataset.version; }
            const prior = g.kind === 'vae' || g.kind === 'gan';
            $('walk-card').hidden = !prior;
            $('latent-card').hidden = !(prior && g.latent === 2);
            if (!$('latent-card').hidden) loadManifold();
        }
    }
    function fillPicker(sel, n, mean) {
        sel.innerHTML = '';
        if (mean && n > 1) { const o = el('option', '', 'mean of all'); o.value = 'mean'; sel.appendChild(o); }
        for (let i = 0; i < n; i++) { const o = el('option', '', String(i)); o.value = String(i); sel.appendChild(o); }
        if (n > 0) sel.value = mean && n > 1 ? 'mean' : '0';
    }
    $('model').addEventListener('change', () => {
        clearError();
        selectModel(state.models.find((m) => m.id === $('model').value) || null);
    });

    // the API key: kept in localStorage, sent as Authorization: Bearer; changing it reloads the models
    let keyTimer = 0;
    $('api-key').value = localStorage.getItem(KEY_STORE) || '';
    $('api-key').addEventListener('input', () => {
        const k = $('api-key').value.trim();
        if (k) localStorage.setItem(KEY_STORE, k); else localStorage.removeItem(KEY_STORE);
        clearTimeout(keyTimer);
        keyTimer = setTimeout(loadModels, 300);
    });

    /* ------------------------------------------------------------------ tabs */
    function showView(name) {
        for (const t of document.querySelectorAll('#text-view .tab')) t.classList.toggle('active', t.dataset.view === name);
        $('view-generate').hidden = name !== 'generate';
        $('view-attention').hidden = name !== 'attention';
        if (name === 'attention' && !state.attn && $('prompt').value) loadAttention();
    }
    for (const t of document.querySelectorAll('#text-view .tab')) t.addEventListener('click', () => showView(t.dataset.view));

    /* ------------------------------------------------------------------ sliders */
    const temperature = () => Number($('temperature').value);
    function updateLabels() {
        $('temperature-value').textContent = temperature() === 0 ? '0 (greedy)' : temperature().toFixed(2);
        const k = Number($('top-k').value);
        $('top-k-value').textContent = k === 0 ? 'all' : String(k);
        $('top-p-value').textContent = Number($('top-p').value).toFixed(2);
    }
    $('temperature').addEventListener('input', () => { updateLabels(); scheduleNext(60); });
    $('top-k').addEventListener('input', updateLabels);
    $('top-p').addEventListener('input', updateLabels);
    $('prompt').addEventListener('input', () => { state.attn = null; scheduleNext(300); });
    $('prompt').addEventListener('keydown', (e) => {
        if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); generate(); }
    });

    /* ------------------------------------------------------------------ generation */
    function stopGeneration() {
        if (state.gen) { state.gen.abort(); state.gen = null; }
        $('generate').disabled = false;
        $('stop').disabled = true;
    }
    $('stop').addEventListener('click', stopGeneration);
    $('generate').addEventListener('click', generate);

    function genStatus(extra) {
        const n = state.genTokens, dt = (performance.now() - state.genStart) / 1000;
        const parts = [n + ' token' + (n === 1 ? '' : 's')];
        if (n > 1 && dt > 0) parts.push((n / dt).toFixed(1) + ' tokens/s');
        if ($('output').dataset.seed) parts.push('seed ' + $('output').dataset.seed);
        if ($('output').dataset.cropped) parts.push($('output').dataset.cropped + ' prompt tokens cropped off the front');
        if (extra) parts.push(extra);
        $('gen-status').textContent = parts.join(' · ');
    }

    function addToken(text, lp) {
        const out = $('output');
        const s = el('span', 'tok', text);
        if (text.includes('\n')) s.classList.add('nl');
        s.dataset.index = String(state.genTokens);
        s.dataset.token = text;
        if (lp && lp.token_logprobs && lp.token_logprobs.length) {
            const l = lp.token_logprobs[0], p = Math.exp(l);
            s.dataset.logprob = String(l);
            s.dataset.prob = String(p);
            s.dataset.top = JSON.stringify((lp.top_logprobs && lp.top_logprobs[0]) || {});
            s.style.backgroundColor = probColor(p);
        }
        out.appendChild(s);
        state.genTokens++;
    }

    async function generate() {
        const m = state.model;
        if (!m || !isText(m)) return;
        stopGeneration();
        clearError();
        const prompt = $('prompt').value;
        const body = {
            model: m.id, prompt, max_tokens: intOrNull('max-tokens') || 16, temperature: temperature(),
            top_p: Number($('top-p').value), top_k: Number($('top-k').value), stream: true, logprobs: 5,
        };
        // a seed of the page's own when none is given, so that the run can be repeated
        let seed = intOrNull('seed');
        if (seed === null) seed = Math.floor(Math.random() * 2147483648);
        body.seed = seed;
        const out = $('output');
        out.innerHTML = '';
        out.dataset.state = 'running';
        out.dataset.seed = String(seed);
        delete out.dataset.finish;
        delete out.dataset.cropped;
        out.appendChild(el('span', 'prompt-text', prompt));
        state.genTokens = 0;
        state.genStart = performance.now();
        const ctrl = new AbortController();
        state.gen = ctrl;
        $('generate').disabled = true;
        $('stop').disabled = false;
        $('gen-status').textContent = 'waiting for the first token…';
        let finish = '';
        try {
            const res = await request('/v1/completions', body, ctrl.signal);
            const reader = res.body.getReader(), dec = new TextDecoder();
            let buf = '', done = false;
            while (!done) {
                const r = await reader.read();
                if (r.done) break;
                buf += dec.decode(r.value, { stream: true });
                let cut;
                while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
                    const ev = buf.slice(0, cut);
                    buf = buf.slice(cut).replace(/^\r?\n\r?\n/, '');
                    const data = ev.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
                    if (!data) continue;
                    if (data === '[DONE]') { done = true; break; }
                    const c = JSON.parse(data);
                    if (c.error) throw new ApiError(c.error.message || 'the stream ended with an error', 0);
                    if (c.nanogen && c.nanogen.prompt_cropped > 0) out.dataset.cropped = String(c.nanogen.prompt_cropped);
                    for (const ch of c.choices || []) {
                        if (ch.index) continue;   // n is 1: only choice 0
                        if (ch.text || (ch.logprobs && ch.logprobs.tokens && ch.logprobs.tokens.length)) addToken(ch.text || '', ch.logprobs);
                        if (ch.finish_reason) finish = ch.finish_reason;
                    }
                    genStatus(finish ? 'finished: ' + finish : '');
                }
            }
            out.dataset.finish = finish || 'done';
            genStatus(finish ? 'finished: ' + finish : '');
        } catch (e) {
            if (e.name === 'AbortError') { out.dataset.finish = 'stopped'; genStatus('stopped'); }
            else { out.dataset.finish = 'error'; $('gen-status').textContent = ''; report(e); }
        } finally {
            out.dataset.state = 'done';
            if (state.gen === ctrl) { state.gen = null; $('generate').disabled = false; $('stop').disabled = true; }
        }
    }

    /* token hover: the probability and the top alternatives */
    const tip = $('tooltip');
    $('output').addEventListener('mouseover', (e) => {
        const s = e.target.closest('.tok');
        if (!s || s.dataset.prob === undefined) return;
        const p = Number(s.dataset.prob);
        tip.innerHTML = '';
        const head = el('div', 'tip-head');
        head.appendChild(el('code', '', vis(s.dataset.token)));
        head.appendChild(el('span', 'tip-p', 'p = ' + p.toFixed(4) + '  (' + pct(p) + ')'));
        tip.appendChild(head);
        const top = Object.entries(JSON.parse(s.dataset.top || '{}')).map(([t, l]) => [t, Math.exp(l)]).sort((a, b) => b[1] - a[1]);
        if (top.length) {
            tip.appendChild(el('div', 'tip-sub', 'top alternatives'));
            for (const [t, q] of top) {
                const row = el('div', 'tip-row' + (t === s.dataset.token ? ' chosen' : ''));
                row.appendChild(el('code', '', vis(t)));
                const bar = el('span', 'tip-bar');
                const fill = el('span', 'tip-fill');
                fill.style.width = (q * 100).toFixed(1) + '%';
                fill.style.backgroundColor = probColor(q);
                bar.appendChild(fill);
                row.appendChild(bar);
                row.appendChild(el('span', 'tip-v', pct(q)));
                tip.appendChild(row);
            }
        }
        tip.hidden = false;
        const r = s.getBoundingClientRect(), tw = tip.offsetWidth, th = tip.offsetHeight;
        let x = r.left + window.scrollX, y = r.bottom + window.scrollY + 6;
        x = Math.max(8, Math.min(x, window.scrollX + document.documentElement.clientWidth - tw - 8));
        if (r.bottom + th + 12 > window.innerHeight) y = r.top + window.scrollY - th - 6;
        tip.style.left = x + 'px';
        tip.style.top = y + 'px';
    });
    $('output').addEventListener('mouseout', (e) => {
        if (e.target.closest('.tok') && !(e.relatedTarget && e.relatedTarget.closest && e.relatedTarget.closest('.tok') === e.target.closest('.tok'))) tip.hidden = true;
    });

    /* ------------------------------------------------------------------ next-token chart */
    function scheduleNext(delay) {
        clearTimeout(state.nextTimer);
        state.nextTimer = setTimeout(updateNext, delay);
    }
    const chartTemps = () => FIXED_TEMPS.concat([temperature()]);   // the slider's is the fourth series
    async function updateNext() {
        const m = state.model, chart = $('next-chart');
        if (!m || !isText(m)) return;
        const prompt = $('prompt').value, seq = ++state.nextSeq;
        const temps = chartTemps();
        let j;
        try {
            j = await apiJson('/v1/nanogen/next', { model: m.id, prompt, temperatures: temps, top: 12 });
        } catch (e) {
            if (seq === state.nextSeq) report(e, 'next');
            return;
        }
        if (seq !== state.nextSeq || state.model !== m) return;   // a newer request is on its way
        if (state.errSrc === 'next') clearError();   // the prompt that failed was fixed
        drawNext(j, temps);
    }
    function drawNext(j, temps) {
        const chart = $('next-chart'), legend = $('next-legend');
        const S = temps.length - 1;   // the slider's series
        chart.innerHTML = '';
        legend.innerHTML = '';
        temps.forEach((t, k) => {
            const item = el('span', 'legend-item' + (k === S ? ' slider' : ''));
            const sw = el('span', 'swatch');
            sw.style.background = SERIES_COLORS[k % SERIES_COLORS.length];
            item.appendChild(sw);
            const label = k === S ? 'slider T=' + (t === 0 ? '0 (greedy)' : t) : 'T=' + t;
            const ent = j.entropy_bits && j.entropy_bits[k] !== undefined ? ' · ' + Number(j.entropy_bits[k]).toFixed(2) + ' bits' : '';
            item.appendChild(el('span', '', label + ent));
            legend.appendChild(item);
        });
        const rows = (j.tokens || []).slice();
        const other = j.other || null;
        // bars are drawn to the scale of the largest probability shown, which fills the width
        let scale = 0;
        for (const r of rows) for (const p of r.probs || []) scale = Math.max(scale, p);
        for (const p of other || []) scale = Math.max(scale, p);
        if (!(scale > 0)) scale = 1;
        const addRow = (label, probs, cls, token) => {
            const row = el('div', 'row' + (cls ? ' ' + cls : ''));
            if (token !== undefined) row.dataset.token = token;
            row.appendChild(el('code', 'label', label));
            const bars = el('div', 'bars');
            probs.forEach((p, k) => {
                const b = el('div', 'bar' + (k === S ? ' slider' : ''));
                b.dataset.temperature = String(temps[k]);
                b.dataset.prob = String(p);
                b.style.width = Math.max(0, Math.min(100, p / scale * 100)).toFixed(2) + '%';
                b.style.background = SERIES_COLORS[k % SERIES_COLORS.length];
                b.title = 'T=' + temps[k] + ': ' + pct(p);
                bars.appendChild(b);
            });
            row.appendChild(bars);
            row.appendChild(el('span', 'val', pct(probs[S] || 0)));
            chart.appendChild(row);
        };
        for (const r of rows) addRow(vis(r.text), r.probs || [], '', r.text);
        if (other) addRow('other', other, 'other');
        chart.dataset.temperature = String(temps[S]);
        chart.dataset.scale = String(scale);
        chart.dataset.seq = String(state.nextSeq);
        chart.dataset.state = 'drawn';
        $('next-context').textContent = j.context_tokens !== undefined ? 'after ' + j.context_tokens + ' tokens' : '';
    }

    /* ------------------------------------------------------------------ attention */
    $('attn-run').addEventListener('click', loadAttention);
    $('attn-layer').addEventListener('change', drawAttention);
    $('attn-head').addEventListener('change', drawAttention);

    function clearCanvas() {
        const cv = $('attn-canvas');
        cv.width = 10; cv.height = 10;
        cv.style.width = '10px'; cv.style.height = '10px';
        delete cv.dataset.drawn;
        $('attn-status').textContent = '';
    }
    async function loadAttention() {
        const m = state.model;
        if (!m || !isText(m)) return;
        const prompt = $('prompt').value;
        if (!prompt) { showError('type a prompt first: the heat map shows how its tokens attend to each other'); return; }
        clearError();
        const seq = ++state.attnSeq;
        $('attn-status').textContent = 'loading…';
        try {
            const j = await apiJson('/v1/nanogen/attention', { model: m.id, prompt });
            if (seq !== state.attnSeq || state.model !== m) return;
            state.attn = j;
            fillPicker($('attn-layer'), j.n_layer, false);
            const h = $('attn-head').value;
            fillPicker($('attn-head'), j.n_head, true);
            if ([...$('attn-head').options].some((o) => o.value === h)) $('attn-head').value = h;
            drawAttention();
        } catch (e) {
            $('attn-status').textContent = '';
            report(e);
        }
    }
    function attnMatrix() {
        const a = state.attn, L = Number($('attn-layer').value) || 0, hv = $('attn-head').value;
        const heads = a.attention[L];
        if (hv !== 'mean') return heads[Number(hv) || 0];
        const n = a.tokens.length;
        const m = [];
        for (let i = 0; i < n; i++) {
            m.push([]);
            for (let j = 0; j < n; j++) {
                let s = 0;
                for (const h of heads) s += h[i][j];
                m[i].push(s / heads.length);
            }
        }
        return m;
    }
    function drawAttention() {
        const a = state.attn, cv = $('attn-canvas');
        if (!a) return;
        const toks = a.tokens.map(vis), n = toks.length, W = attnMatrix();
        const ctx = cv.getContext('2d');
        const font = '12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace';
        ctx.font = font;
        const lab = Math.min(90, Math.ceil(Math.max(10, ...toks.map((t) => ctx.measureText(t).width))) + 8);
        const cell = Math.max(6, Math.min(28, Math.floor(560 / Math.max(1, n))));
        const ox = lab, oy = lab, w = ox + n * cell + 8, h = oy + n * cell + 8;
        const dpr = window.devicePixelRatio || 1;
        cv.width = Math.round(w * dpr); cv.height = Math.round(h * dpr);
        cv.style.width = w + 'px'; cv.style.height = h + 'px';
        ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
        ctx.fillStyle = '#ffffff';
        ctx.fillRect(0, 0, w, h);
        for (let i = 0; i < n; i++)
            for (let j = 0; j < n; j++) {
                if (j > i) { ctx.fillStyle = '#ffffff'; } else { ctx.fillStyle = heatColor(W[i][j]); }
                ctx.fillRect(ox + j * cell, oy + i * cell, cell, cell);
            }
        ctx.strokeStyle = '#cbd5e1';
        ctx.lineWidth = 1;
        ctx.strokeRect(ox - 0.5, oy - 0.5, n * cell + 1, n * cell + 1);
        ctx.fillStyle = '#334155';
        ctx.font = (cell < 11 ? Math.max(7, cell - 1) : 12) + 'px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace';
        ctx.textBaseline = 'middle';
        ctx.textAlign = 'right';
        for (let i = 0; i < n; i++) ctx.fillText(toks[i], ox - 4, oy + i * cell + cell / 2, lab - 6);
        for (let j = 0; j < n; j++) {
            ctx.save();
            ctx.translate(ox + j * cell + cell / 2, oy - 4);
            ctx.rotate(-Math.PI / 2);
            ctx.textAlign = 'left';
            ctx.fillText(toks[j], 0, 0, lab - 6);
            ctx.restore();
        }
        Object.assign(cv.dataset, { drawn: '1', n: String(n), cell: String(cell), ox: String(ox), oy: String(oy),
            layer: $('attn-layer').value, head: $('attn-head').value });
        const L = Number($('attn-layer').value);
        $('attn-status').textContent = n + ' tokens · layer ' + L + ' · ' + ($('attn-head').value === 'mean' ? 'mean of ' + a.n_head + ' heads' : 'head ' + $('attn-head').value);
    }
    $('attn-canvas').addEventListener('mousemove', (e) => {
        const cv = $('attn-canvas'), a = state.attn;
        if (!a || !cv.dataset.drawn) return;
        const r = cv.getBoundingClientRect();
        const cell = Number(cv.dataset.cell), n = Number(cv.dataset.n);
        const j = Math.floor((e.clientX - r.left - Number(cv.dataset.ox)) / cell), i = Math.floor((e.clientY - r.top - Number(cv.dataset.oy)) / cell);
        if (i < 0 || j < 0 || i >= n || j >= n) { $('attn-hover').innerHTML = '&nbsp;'; return; }
        const w = attnMatrix()[i][j];
        $('attn-hover').textContent = 'query ' + i + ' ' + vis(a.tokens[i]) + '  →  key ' + j + ' ' + vis(a.tokens[j]) + ':  ' + w.toFixed(4);
    });

    /* ------------------------------------------------------------------ images */
    $('sample-run').addEventListener('click', async () => {
        const m = state.model;
        if (!m) return;
        clearError();
        const body = { model: m.id, n: intOrNull('sample-n') || 16 };
        const seed = intOrNull('sample-seed');
        if (seed !== null) body.seed = seed;
        $('sample-run').disabled = true;
        try { await showPng($('sample-img'), await apiPng('/v1/nanogen/images/sample', body)); } catch (e) { report(e); } finally { $('sample-run').disabled = false; }
    });
    $('walk-run').addEventListener('click', async () => {
        const m = state.model;
        if (!m) return;
        clearError();
        const body = { model: m.id, steps: intOrNull('walk-steps') || 8 };
        const seed = intOrNull('walk-seed');
        if (seed !== null) body.seed = seed;
        $('walk-run').disabled = true;
        try { await showPng($('walk-img'), await apiPng('/v1/nanogen/images/interpolate', body)); } catch (e) { report(e); } finally { $('walk-run').disabled = false; }
    });

    // The latent explorer. The manifold is an n x n grid of pictures (2-pixel borders) decoded at
    // the normal quantiles 5%..95% of z1 (columns, left to right) and z2 (rows, bottom to top), so a
    // point's z is read off the picture's own geometry: cell centres map linearly to quantiles.
    const MANIFOLD_N = 10;
    async function loadManifold() {
        const m = state.model, img = $('manifold-img');
        img.removeAttribute('src');
        delete img.dataset.version;
        try {
            const blob = await apiPng('/v1/nanogen/images/manifold', { model: m.id, n: MANIFOLD_N });
            if (state.model !== m) return;
            await showPng(img, blob, { n: String(MANIFOLD_N) });
            setPoint(0.5, 0.5);
        } catch (e) { report(e); }
    }
    // (u, v) in [0, 1]: a fraction of the manifold picture's width / height -> z
    function zAt(u, v) {
        const img = $('manifold-img'), n = Number(img.dataset.n) || MANIFOLD_N;
        const zOf = (f, size) => {
            const c = (size - 2) / n - 2, first = 2 + c / 2, last = 2 + (n - 1) * (c + 2) + c / 2;
            const q = (f * size - first) / (last - first);
            return Math.min(0.999, Math.max(0.001, 0.05 + 0.9 * q));
        };
        return [normPpf(zOf(u, img.naturalWidth || 1)), normPpf(1 - zOf(v, img.naturalHeight || 1))];
    }
    function setPoint(u, v) {
        u = Math.min(1, Math.max(0, u)); v = Math.min(1, Math.max(0, v));
        const pt = $('latent-point');
        pt.style.left = (u * 100) + '%';
        pt.style.top = (v * 100) + '%';
        pt.dataset.u = String(u); pt.dataset.v = String(v);
        state.z = zAt(u, v);
        pt.dataset.z = JSON.stringify(state.z);
        $('latent-z').textContent = 'z = (' + state.z.map((x) => x.toFixed(2)).join(', ') + ')';
        decode(state.z);
    }
    // one decode in flight at a time; while it runs, only the latest point waits
    async function decode(z) {
        if (state.decodeBusy) { state.decodePending = z; return; }
        const m = state.model;
        state.decodeBusy = true;
        try {
            const blob = await apiPng('/v1/nanogen/images/decode', { model: m.id, z });
            if (state.model === m) await showPng($('decode-img'), blob, { z: JSON.stringify(z) });
        } catch (e) { report(e); } finally {
            state.decodeBusy = false;
            const p = state.decodePending;
            state.decodePending = null;
            if (p && state.model === m) decode(p);
        }
    }
    const pad = $('latent-pad');
    let dragging = false;
    function padMove(e) {
        const r = pad.getBoundingClientRect();
        setPoint((e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height);
    }
    pad.addEventListener('pointerdown', (e) => {
        if (!$('manifold-img').dataset.version) return;
        dragging = true;
        pad.setPointerCapture(e.pointerId);
        pad.classList.add('dragging');
        padMove(e);
        e.preventDefault();
    });
    pad.addEventListener('pointermove', (e) => { if (dragging) padMove(e); });
    const endDrag = () => { dragging = false; pad.classList.remove('dragging'); };
    pad.addEventListener('pointerup', endDrag);
    pad.addEventListener('pointercancel', endDrag);
    pad.tabIndex = 0;
    pad.addEventListener('keydown', (e) => {   // arrows move the point a twentieth of the way
        const pt = $('latent-point'), d = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[e.key];
        if (!d || !pt.dataset.u) return;
        e.preventDefault();
        setPoint(Number(pt.dataset.u) + d[0] / 20, Number(pt.dataset.v) + d[1] / 20);
    });

    /* ------------------------------------------------------------------ start */
    window.nanogenPlayground = { probColor, heatColor, normPpf };   // for the browser test
    updateLabels();
    loadModels();
})();
