// poetry-search page: the URL is the whole state (?q=…&mode=…&author=…&n=…&poem=…&line=…&echo=…), so a
// search, a poet, a page of results or a poem can be bookmarked and shared and back/forward work.
// Views: a poem (poem=), results (q=), a poet (author= without q, or /poet/NAME), browsing (dynasty= or
// collection= without q), the 格律 panel (view=check&text=…&strict=1), else the start page. Every corpus string goes into the page as text
// (textContent / text nodes), never as markup. The page has no search logic: the API answers.
"use strict";

const FIELDS = ["q", "mode", "author", "dynasty", "collection", "form"];
const VIEW = ["n", "poem", "line", "echo", "view", "text", "strict"];
const PAGE = 20;          // hits a page ("more" asks for the next PAGE)
const MAX_K = 100;        // the API's largest k
const $ = (sel) => document.querySelector(sel);
let seq = 0;              // answers to superseded requests are dropped
let DEFAULT_MODE = "hybrid";  // "lexical" on an index built with --lexical-only (no vectors)
let HAS_VECTORS = true;
let LIMITS = { query_chars: 200 };
let START = null;         // /api/start, once

// How each hit matched, in the reader's words (the API's `match`).
const MATCH = { exact: "整句", contains: "包含", paragraph: "跨句", near: "近似", semantic: "语义" };
const MATCH_HELP = { exact: "与所查诗句完全相同", contains: "包含所查的字句", paragraph: "所查字句跨越两句",
  near: "与所查诗句相差一字", semantic: "意思相近（语义检索）" };
// The page's own words for each error code of the API (docs/http-api.md); else the API's message.
const ERRORS = {
  bad_request: "请求有误", empty_query: "请输入诗句或关键词", text_too_long: "输入太长：最多可搜 {n} 字",
  invalid_text: "输入中有无法识别的字符", unknown_dynasty: "此索引中没有这个朝代", unknown_collection: "此索引中没有这个诗集",
  unknown_form: "此索引中没有这种体裁", index_not_found: "索引尚未建成，请稍后再试", index_damaged: "索引已损坏，需要重建",
  index_changed: "索引刚刚更新，请再试一次", poem_not_found: "找不到这首诗", author_not_found: "找不到这位诗人",
  no_vectors: "此索引只有字面检索，不能按意思搜索", body_too_large: "请求太大", bad_offset: "翻页位置有误",
  bad_k: "结果数目有误", model_mismatch: "模型与索引不符", missing_dependency: "服务器缺少组件", error: "服务器出错",
  bad_tones: "平仄格式有误：只可用 平、仄、中、? 与 *", unknown_rhyme: "平水韵中没有这个韵部", bad_char: "请只输入一个字",
  unknown_char: "有字不在平水韵表中：请换用通行字形", not_found: "找不到这个页面", method_not_allowed: "请求方式有误",
  bad_encoding: "网址编码有误", unexpected: "服务器出错",
};
// The 格律 panel's own words where a code means something else there.
const CHECK_ERRORS = { empty_query: "请贴入一首诗：五绝、七绝、五律或七律", text_too_long: "诗太长：最多 {c} 字",
  bad_request: "请贴入一首诗再检查" };

class ApiError extends Error {
  constructor(code, message, status) { super(message); this.code = code; this.status = status; }
}

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c != null) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function current() {
  const p = new URLSearchParams(location.search);
  const s = {};
  for (const k of FIELDS.concat(VIEW)) s[k] = p.get(k) || "";
  const m = location.pathname.match(/^\/poet\/(.+)$/);
  if (m && !s.author) s.author = decodeURIComponent(m[1]);
  return s;
}

function urlFor(state) {
  const p = new URLSearchParams();
  for (const k of FIELDS.concat(VIEW)) {
    const v = state[k];
    if (v && !(k === "mode" && v === DEFAULT_MODE) && !(k === "n" && Number(v) <= PAGE)) p.set(k, v);
  }
  const qs = p.toString();
  return qs ? "/?" + qs : "/";
}

function go(state, replace) {
  const url = urlFor(state);
  if (url !== location.pathname + location.search) history[replace ? "replaceState" : "pushState"](null, "", url);
  render();
}

// A link inside the page: a real href (open in a new tab, copy) that navigates without a reload.
function nav(next, props, ...children) {
  return el("a", { ...props, href: urlFor(next), onclick: (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button) return;
    ev.preventDefault(); go(next);
  } }, ...children);
}

function poetLink(name) {
  return name ? nav({ author: name }, { class: "author" }, name) : el("span", {}, "佚名");
}

async function api(path, init) {
  const r = await fetch(path, { headers: { Accept: "application/json", ...(init && init.body ? { "Content-Type": "application/json" } : {}) }, ...init });
  let body;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) {
    const err = (body && body.error) || {};
    throw new ApiError(err.code || "", err.message || `${r.status} ${r.statusText}`, r.status);
  }
  return body;
}

function words(e, detail, table) {
  const zh = e.code && ((table && table[e.code]) || ERRORS[e.code]);
  return zh ? zh.replace("{n}", LIMITS.query_chars).replace("{c}", LIMITS.check_chars || 400) + (detail ? `：${detail}` : "") : null;
}

function status(text, isError, english) {
  const s = $("#status");
  s.replaceChildren(text || "");
  if (english) s.append(" ", el("small", { class: "en", lang: "en" }, english));
  s.classList.toggle("error", !!isError);
}

function fail(e, detail, table) {
  const zh = words(e, detail, table);
  status(zh || e.message, true, zh ? e.message : null);
}

// The query's characters, marked in `text`; `folds` maps traditional characters to simplified.
// With `spans` (a hit's highlight: [start, end) in code points of the original, as the server
// matched it after folding) exactly those are marked.
function marked(text, folds, spans) {
  const frag = document.createDocumentFragment();
  if (Array.isArray(spans)) {
    const cps = Array.from(text || "");
    let at = 0;
    for (const [a, b] of spans) {
      if (a < at || b > cps.length) continue;
      if (a > at) frag.append(document.createTextNode(cps.slice(at, a).join("")));
      frag.append(el("mark", { class: "hit-char" }, cps.slice(a, b).join("")));
      at = b;
    }
    if (at < cps.length) frag.append(document.createTextNode(cps.slice(at).join("")));
    return frag;
  }
  const wanted = new Set((folds && folds.query) || []);
  const map = (folds && folds.chars) || {};
  let plain = "";
  for (const ch of text || "") {
    if (wanted.size && wanted.has(map[ch] || ch)) {
      if (plain) { frag.append(document.createTextNode(plain)); plain = ""; }
      frag.append(el("mark", { class: "hit-char" }, ch));
    } else plain += ch;
  }
  if (plain) frag.append(document.createTextNode(plain));
  return frag;
}

// -- 平仄: each character marked 平, 仄, 中 (both readings) or ？ (not in the table), when the toggle is on --
const TONE_CLASS = { "平": "t-p", "仄": "t-z", "中": "t-b", "？": "t-u" };
function tonesOn() { try { return localStorage.getItem("tones") === "on"; } catch (e) { return false; } }

// The characters of `node` (its text, in order), each in a span with its mark, when `tones` (the
// line's stored tone string) has one mark for each; else `node` as it is.
function toneMarks(node, tones) {
  if (!tones || !tonesOn()) return node;
  const marks = Array.from(tones);
  const walk = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
  const texts = [];
  while (walk.nextNode()) texts.push(walk.currentNode);
  if (texts.reduce((n, t) => n + Array.from(t.nodeValue).length, 0) !== marks.length) return node;
  let i = 0;
  for (const t of texts) {
    const frag = document.createDocumentFragment();
    for (const ch of Array.from(t.nodeValue)) {
      const m = marks[i++];
      frag.append(el("span", { class: "tc " + (TONE_CLASS[m] || "t-u"), "data-t": m }, ch));
    }
    t.replaceWith(frag);
  }
  if (node.nodeType === 1) node.setAttribute("data-tones", tones);
  return node;
}

function metaLine(h) {
  const parts = [];
  const sep = () => el("span", { class: "sep", "aria-hidden": "true" }, "·");
  if (h.title) parts.push(el("span", { class: "title" }, "《" + h.title + "》"));
  for (const v of [h.author || "佚名", h.dynasty, h.book || h.collection]) {
    if (!v) continue;
    if (parts.length) parts.push(sep());
    parts.push(v === h.author ? poetLink(v) : el("span", {}, v));
  }
  return parts;
}

function how(h) {
  const word = MATCH[h.match] || (h.score == null ? "包含" : "语义");
  const tip = (MATCH_HELP[h.match] || "") + (h.score == null ? "" : `（相似度 ${h.score.toFixed(3)}）`);
  const bar = el("span", { class: "bar", "aria-hidden": "true" }, el("span", {}));
  if (h.score != null) bar.firstChild.style.width = `${Math.max(4, Math.round(Math.max(0, h.score) * 100))}%`;
  else bar.hidden = true;
  return el("span", { class: "how how-" + (h.match || "x"), title: tip }, word, bar);
}

function card(h, folds, state) {
  const couplet = h.context && h.context !== h.original ? el("div", { class: "couplet" }, ...verses(h.context, folds)) : null;
  const next = { ...state, poem: h.poem_id, line: String(h.id), echo: "" };
  const node = el("article", { class: "card", "data-poem": h.poem_id, "data-line": h.id },
    el("div", { class: "card-top" }, nav(next, { class: "line" },
      toneMarks(el("span", {}, marked(h.original || h.text, folds, h.original ? h.highlight : null)), h.tones)), how(h)),
    couplet,
    el("div", { class: "meta" }, ...metaLine(h),
       h.occurrences > 1 ? el("span", { class: "occ" }, ` （见于 ${h.occurrences} 首）`) : null));
  // the whole card opens the poem; its links (the line, the poet) do their own thing
  node.addEventListener("click", (ev) => { if (!ev.target.closest("a")) go(next); });
  return node;
}

function isPattern(q) { return /[?*？＊]/.test(q); }

// One page of hits: {hits, total|null}. `offset` on /api/search, or, where the route predates it,
// the tail of a search for offset + k (the library defines a page as exactly that slice).
async function fetchHits(state, offset, k) {
  const pattern = isPattern(state.q);
  const p = pattern ? new URLSearchParams({ pattern: state.q.replace(/？/g, "?").replace(/＊/g, "*") })
                    : new URLSearchParams({ q: state.q, mode: state.mode || DEFAULT_MODE });
  for (const f of ["author", "dynasty", "collection", "form"]) if (state[f]) p.set(f, state[f]);
  const base = pattern ? "/api/find?" : "/api/search?";
  const data = await api(base + p + "&" + new URLSearchParams({ k, offset }));
  if (offset && data.offset === undefined) {
    if (offset + k > MAX_K) return { hits: [], total: null, folds: data.folds };
    const all = await api(base + p + "&" + new URLSearchParams({ k: offset + k }));
    return { hits: all.hits.slice(offset), total: null, folds: all.folds };
  }
  return { hits: data.hits, total: pattern ? data.total : null, folds: data.folds };
}

// Pages of PAGE up to `want` hits, then "more".
async function loadHits(state, want, box, mine) {
  let shown = box.querySelectorAll(".card").length, total = null, last = 0, asked = 0;
  while (shown < want) {
    const k = Math.min(MAX_K, want - shown);
    const got = await fetchHits(state, shown, k);
    if (mine !== seq) return null;
    const seen = new Set([...box.querySelectorAll(".card")].map((c) => c.dataset.poem + "#" + c.dataset.line));
    const fresh = got.hits.filter((h) => !seen.has(h.poem_id + "#" + h.id));
    box.append(...fresh.map((h) => card(h, got.folds, state)));
    shown += fresh.length; total = got.total; last = got.hits.length; asked = k;
    if (got.hits.length < k) break;
  }
  return { shown, total, full: total == null ? last > 0 && last >= asked : shown < total };
}

async function showResults(state) {
  const box = $("#results");
  if (state.q.length > LIMITS.query_chars) {  // the API would refuse it: say so without asking
    box.replaceChildren();
    return fail(new ApiError("text_too_long", `q is ${state.q.length} characters long: at most ${LIMITS.query_chars} are searched`));
  }
  const mine = ++seq;
  status("搜索中…");
  box.replaceChildren();
  const want = Math.max(PAGE, Number(state.n) || PAGE);
  let got;
  try { got = await loadHits(state, want, box, mine); } catch (e) {
    if (mine === seq) { box.replaceChildren(); fail(e); }
    return;
  }
  if (!got) return;
  moreButton(got, state, box);
  const n = got.shown;
  status(!n ? "没有结果：换个说法，或去掉筛选条件"
    : got.total != null ? `共 ${got.total.toLocaleString()} 句合此格式，列出 ${n} 句` : `${n} 条结果`);
  document.title = `${state.q} · 寻诗`;
  await toScript();
}

function moreButton(got, state, box) {
  const more = $("#more");
  more.hidden = !got.full || !got.shown;
  more.onclick = async () => {
    const mine = ++seq;
    more.disabled = true;
    const want = got.shown + PAGE;
    let next;
    try { next = await loadHits(state, want, box, mine); } catch (e) { if (mine === seq) fail(e); return; }
    finally { more.disabled = false; }
    if (!next) return;
    history.replaceState(null, "", urlFor({ ...state, n: String(next.shown) }));
    got = next;
    moreButton(next, { ...state, n: String(next.shown) }, box);
    status(next.total != null ? `共 ${next.total.toLocaleString()} 句合此格式，列出 ${next.shown} 句` : `${next.shown} 条结果`);
    const firstNew = box.querySelectorAll(".card .line")[want - PAGE];
    if (firstNew) firstNew.focus();
    await toScript();
  };
}

// A couplet wraps between its lines, never inside one: each line with its punctuation is one unit.
function verses(text, folds) {
  const parts = text.match(/[^，。！？；：、,.!?;:]+[，。！？；：、,.!?;:」』”’）)]*|[，。！？；：、,.!?;:]+/g) || [text];
  return parts.map((part) => el("span", { class: "seg" }, marked(part, folds)));
}

// A paragraph (usually a couplet) with each of its lines as a unit that never breaks inside.
function paragraph(text, lines, state, folds, rhyming) {
  const p = el("p", { class: "para" });
  let at = 0;
  for (const ln of lines) {
    const i = ln.original ? text.indexOf(ln.original, at) : -1;
    if (i < 0) continue;
    if (i > at) p.append(text.slice(at, i));
    const hit = String(ln.text_id) === state.line;
    const open = String(ln.text_id) === state.echo;
    at = i + ln.original.length;
    const tail = (text.slice(at).match(/^[，。！？；：、,.!?;:」』”’）)]+/) || [""])[0];
    at += tail.length;
    p.append(el("button", {
      type: "button", class: "verse" + (hit ? " hit" : "") + (open ? " open" : ""), "data-line": ln.text_id,
      title: "他人诗中最相近的句子", "aria-expanded": open ? "true" : "false",
      onclick: () => { if (HAS_VECTORS) go({ ...state, echo: open ? "" : String(ln.text_id) }); },
    }, toneMarks(el("span", {}, marked(ln.original, folds)), ln.tones), tail));
    const group = rhyming && rhyming.get(ln.text_id);
    if (group) p.append(el("span", { class: "rhyme-tag", title: "此句押韵的韵部（平水韵）" }, "韵·" + group));
  }
  if (at < text.length) p.append(text.slice(at));
  return p;
}

function backButton(state) {
  const from = { ...state, poem: "", line: "", echo: "" };
  const label = state.q ? `← 回到「${state.q}」的结果` : state.author ? `← ${state.author}` : "← 首页";
  return el("button", { type: "button", class: "back", onclick: () => go(from) }, label);
}

async function showPoem(state) {
  const box = $("#poem");
  const mine = ++seq;
  status("");
  let poem, echoes = null;
  try {
    const p = state.q ? "?" + new URLSearchParams({ q: state.q }) : "";
    [poem, echoes] = await Promise.all([
      api(`/api/poems/${encodeURIComponent(state.poem).replace(/%2F/g, "/")}${p}`),
      state.echo ? api(`/api/lines/${encodeURIComponent(state.echo)}/echoes?k=10`) : null,
    ]);
  } catch (e) {
    if (mine === seq) { fail(e, state.poem); box.hidden = true; }
    return;
  }
  if (mine !== seq) return;
  const source = [poem.book || poem.collection, poem.form, poem.chapter, poem.section].filter(Boolean).join(" · ");
  const stanzas = el("div", { class: "stanzas" });
  const rhyming = tonesOn() ? rhymingLines(poem) : null;
  poem.paragraphs.forEach((text, i) => {
    const lines = poem.lines.filter((l) => l.paragraph === i);
    stanzas.append(paragraph(text, lines, state, poem.folds, rhyming));
    if (echoes && lines.some((l) => String(l.text_id) === state.echo)) stanzas.append(echoList(echoes, state));
  });
  const hint = HAS_VECTORS ? el("p", { class: "hint" }, "点一句诗，看其他诗人笔下最相近的句子") : null;
  const meter = /绝|律/.test(poem.form || "") ? nav({ view: "check", text: poem.paragraphs.join("\n") },
    { class: "to-check" }, "查格律") : null;
  // replaceChildren writes a null as the text "null": leave the parts this poem lacks out
  box.replaceChildren(...[backButton(state), el("h1", {}, poem.title || "无题"),
    el("div", { class: "byline" }, poetLink(poem.author), poem.dynasty ? ` · ${poem.dynasty}` : ""),
    source ? el("div", { class: "source" }, source, meter ? " · " : "", meter) : meter, stanzas, hint].filter(Boolean));
  box.hidden = false;
  document.title = `${poem.title || "无题"} · ${poem.author || "佚名"} · 寻诗`;
  await toScript();
  const target = box.querySelector(".verse.hit");
  if (target && !state.echo) target.scrollIntoView({ block: "center" });
}

// The rhyming lines of a poem: those ending a sentence (。！？；) or the first line, whose last
// character shares a 平水韵 group with another such line; text_id -> that group.
function rhymingLines(poem) {
  const ends = [];
  for (const [i, text] of poem.paragraphs.entries()) {
    let at = 0;
    for (const ln of poem.lines.filter((l) => l.paragraph === i)) {
      const j = ln.original ? text.indexOf(ln.original, at) : -1;
      if (j < 0) continue;
      at = j + ln.original.length;
      if ((ln === poem.lines[0] || /^[」』”’）)]*[。！？；!?;]/.test(text.slice(at)) || at >= text.length) && ln.rhyme) ends.push(ln);
    }
  }
  const count = new Map();
  for (const ln of ends) for (const g of new Set(ln.rhyme)) count.set(g, (count.get(g) || 0) + 1);
  const out = new Map();
  for (const ln of ends) {
    const shared = ln.rhyme.filter((g) => count.get(g) > 1).sort((a, b) => count.get(b) - count.get(a));
    if (shared.length) out.set(ln.text_id, shared[0]);
  }
  return out;
}

function echoList(data, state) {
  const items = data.hits.map((h) => {
    const next = { ...state, poem: h.poem_id, line: String(h.id), echo: "" };
    return el("li", {}, nav(next, { class: "echo-link" }, el("span", { class: "echo-line" }, h.original || h.text)),
      el("div", { class: "echo-meta" }, ...metaLine(h)));
  });
  return el("aside", { class: "echoes", "aria-label": "异代回响" },
    el("h2", {}, "异代回响 · 他人诗中最相近的句子（由古及今）"),
    items.length ? el("ol", {}, ...items) : el("p", {}, "没有找到其他诗人的相近诗句"));
}

// A list of poems (a poet's, a dynasty's, a collection's) with "more".
function poemItem(p, state) {
  return el("li", { class: "poem-item" },
    nav({ ...state, poem: p.poem_id, line: "", echo: "" }, { class: "poem-title" }, p.title || "无题"),
    el("span", { class: "first" }, p.first_line),
    el("span", { class: "meta" }, state.author ? (p.book || p.collection) : poetLink(p.author), p.dynasty && !state.author ? ` · ${p.dynasty}` : ""));
}

async function showList(state, url, head) {
  const box = $("#list");
  const mine = ++seq;
  status("");
  const want = Math.max(PAGE, Number(state.n) || PAGE);
  let data;
  try { data = await api(`${url}&k=${Math.min(MAX_K, want)}`); } catch (e) {
    if (mine === seq) { box.replaceChildren(); fail(e, state.author); }
    return;
  }
  if (mine !== seq) return;
  const ol = el("ol", { class: "poems" }, ...data.poems.map((p) => poemItem(p, state)));
  const more = el("button", { type: "button", class: "more" }, "更多");
  let shown = data.poems.length;
  more.hidden = shown >= data.total;
  more.onclick = async () => {
    const next = await api(`${url}&k=${PAGE}&offset=${shown}`).catch((e) => { fail(e); return null; });
    if (!next) return;
    ol.append(...next.poems.map((p) => poemItem(p, state)));
    const first = ol.children[shown];
    shown += next.poems.length;
    more.hidden = shown >= next.total;
    history.replaceState(null, "", urlFor({ ...state, n: String(shown) }));
    if (first) first.querySelector("a").focus();
    await toScript();
  };
  box.replaceChildren(...head(data), el("p", { class: "count" }, `共 ${data.total.toLocaleString()} 首，按流传程度排列`), ol, more);
  await toScript();
}

function showPoet(state) {
  document.title = `${state.author} · 寻诗`;
  return showList(state, `/api/authors/${encodeURIComponent(state.author)}?`, (p) => {
    const bio = p.biography ? el("p", { class: "bio", tabindex: "0", "aria-label": "小传" }, p.biography) : el("p", { class: "bio none" }, "语料中没有这位诗人的小传");
    return [backButton(state), el("h1", {}, p.name), el("div", { class: "byline" }, [p.dynasty, p.aliases.length ? "又作 " + p.aliases.join("、") : ""].filter(Boolean).join(" · ")), bio];
  });
}

function showBrowse(state) {
  const what = [state.dynasty, state.collection].filter(Boolean).join(" · ");
  document.title = `${what} · 寻诗`;
  const p = new URLSearchParams();
  for (const f of ["dynasty", "collection"]) if (state[f]) p.set(f, state[f]);
  return showList(state, `/api/browse?${p}`, () => [backButton(state), el("h1", {}, what)]);
}

async function showStart(state) {
  const box = $("#start");
  const mine = ++seq;
  status("");
  if (!START) {
    try { START = await api("/api/start"); } catch (e) { if (mine === seq) fail(e); return; }
  }
  if (mine !== seq) return;
  const s = START;
  const ex = (q, kind) => el("li", {}, el("span", { class: "kind" }, kind), nav({ q }, { class: "example" }, q));
  const examples = [];
  if (s.lines[0]) examples.push(ex(s.lines[0].replace(/[，。！？；：、]+$/, ""), "一句诗"));
  if (HAS_VECTORS) examples.push(ex("思念故乡的明月", "一个意思"));
  examples.push(ex("明月*", "一种格式"));
  examples.push(el("li", {}, el("span", { class: "kind" }, "查格律"),
    nav({ view: "check" }, { class: "example-tool" }, "贴一首诗，看平仄与用韵")));
  const parts = [el("h2", {}, "试试"), el("ul", { class: "examples" }, ...examples)];
  if (s.poem) {
    const p = s.poem;
    parts.push(el("h2", {}, "今日一首"), el("div", { class: "today" },
      nav({ poem: p.id }, { class: "poem-title" }, p.title || "无题"), el("span", { class: "meta" }, " · ", poetLink(p.author)),
      ...p.paragraphs.slice(0, 4).map((t) => el("p", { class: "para" }, t))));
  }
  if (s.poets.length) parts.push(el("h2", {}, "名家"), el("ul", { class: "chips" }, ...s.poets.map((p) => el("li", {}, poetLink(p.name)))));
  const f = INFO ? INFO.facets : { dynasties: [], collections: [] };
  if (f.dynasties.length) parts.push(el("h2", {}, "朝代"), el("ul", { class: "chips" }, ...f.dynasties.map((d) => el("li", {}, nav({ dynasty: d.name }, {}, d.name, el("small", {}, ` ${d.poems}`))))));
  const books = bookCounts(f.collections);
  if (books.size) parts.push(el("h2", {}, "诗集"), el("ul", { class: "chips" }, ...[...books].map(([name, n]) => el("li", {}, nav({ collection: name }, {}, name, el("small", {}, ` ${n}`))))));
  box.replaceChildren(...parts);
  document.title = "寻诗 · poetry-search";
  await toScript();
}

// -- 格律: a pasted poem checked by the API (POST /api/check), each character against its pattern --
const REASONS = [
  [/^仄韵/, () => "押仄声韵（偶句收仄）：近体诗押平声韵，这是古体（如仄韵古绝）"],
  [/mixed lengths/, (v) => `各句字数不一（${[...new Set(v.lines.map((l) => l.length))].join("、")} 字）：近体诗每句字数相同`],
  [/lines of \d+ characters/, (v) => `每句 ${v.lines[0].length} 字：近体诗每句五字或七字`],
  [/lines: a 绝句/, (v) => `共 ${v.lines.length} 句：绝句四句，律诗八句（排律不查）`],
];
const VERDICT_HELP = { "合律": "平仄、粘对与用韵都合格律", "合律（拗救）": "有拗句，但已救转，仍算合律",
  "不合": "有不合格律之处，见下", "非近体": "不是近体诗的格式，不作格律判断" };

function where(x) { return `第${x.line + 1}句第${x.position + 1}字`; }

function verdictView(v) {
  const parts = [];
  const head = el("h2", { id: "verdict", class: "verdict " + (v.ok ? "ok" : v.verdict === "不合" ? "bad" : "other"), tabindex: "-1" },
    v.verdict, el("small", {}, VERDICT_HELP[v.verdict] || ""));
  parts.push(head);
  const facts = [["体裁", v.form], ["格式", v.pattern], ["韵部", v.rhyme ? `${v.rhyme}（平水韵）` : null]].filter((f) => f[1]);
  if (facts.length) parts.push(el("dl", { class: "facts" }, ...facts.flatMap(([k, x]) => [el("dt", {}, k), el("dd", {}, x)])));
  if (v.reason) {
    const zh = REASONS.find(([rx]) => rx.test(v.reason));
    parts.push(el("p", { class: "reason" }, zh ? zh[1](v) : v.reason, el("small", { class: "en", lang: "en" }, v.reason)));
  }
  const bad = new Set(v.faults.map((f) => f.line + ":" + f.position));
  const rows = v.lines.map((line, i) => el("tr", {}, el("th", { scope: "row" }, `第${i + 1}句`),
    ...Array.from(line).map((ch, p) => {
      const got = (v.tones[i] || "")[p] || "？";
      const want = (v.expected[i] || "")[p];
      const mark = (v.marks[i] || [])[p];
      const wrong = mark === "不合" || bad.has(i + ":" + p);
      return el("td", { class: "cell" + (wrong ? " bad" : mark ? " ok" : ""), "data-mark": mark || null },
        el("span", { class: "ch" }, ch),
        el("span", { class: "tn " + (TONE_CLASS[got] || "t-u") }, got + (want ? "/" + want : "")),
        el("span", { class: "visually-hidden" }, `，${got}${want ? "，应" + want : ""}${mark ? "，" + mark : ""}`));
    })));
  parts.push(el("p", { class: "grid-help", id: "grid-help" }, v.expected.length
    ? "字下为「本字平仄/格律所应」，不合之字红底标出；中 为平仄两读" : "字下为本字平仄（平水韵）"),
  el("table", { class: "grid", "aria-describedby": "grid-help" }, el("caption", {}, "逐字对照"), el("tbody", {}, ...rows)));
  const list = (title, items, cls) => items.length ? [el("h3", {}, title), el("ul", { class: cls }, ...items)] : [];
  parts.push(...list("不合之处", v.faults.map((f) => el("li", { class: "fault" },
    el("strong", {}, `${where(f)}「${v.lines[f.line][f.position] || ""}」`), ` ${f.rule}：${f.detail}`)), "faults"));
  parts.push(...list("拗救与说明", v.notes.map((n) => el("li", { class: "note" },
    el("strong", {}, `${where(n)}「${v.lines[n.line][n.position] || ""}」`), ` ${n.kind}：${n.detail}`)), "notes"));
  parts.push(...list("多音字的读法", v.readings.map((r) => el("li", {},
    `${where(r)}「${r.char}」读${r.tone}声（${r.groups.join("、")}）`)), "readings"));
  if (v.rules && v.rules.length) {
    parts.push(el("details", { class: "rules" }, el("summary", {}, "所依规则"), el("ul", {}, ...v.rules.map((r) => el("li", {}, r)))));
  }
  return parts;
}

async function showCheck(state, focus) {
  const box = $("#check-result");
  const mine = ++seq;
  status("");
  $("#check-text").value = state.text || "";
  $("#check-strict").checked = state.strict === "1";
  document.title = "格律 · 寻诗";
  if (!state.text && !focus) { box.replaceChildren(); return; }
  box.replaceChildren();
  status("检查中…");
  let v;
  try {
    v = await api("/api/check", { method: "POST", body: JSON.stringify({ text: state.text || "", strict: state.strict === "1" }) });
  } catch (e) {
    if (mine === seq) fail(e, null, CHECK_ERRORS);
    return;
  }
  if (mine !== seq) return;
  status("");
  box.replaceChildren(...verdictView(v));
  if (focus) $("#verdict").focus();
  await toScript();
}

// -- 简/繁: the whole page converted on the server (OpenCC t2s / s2t), the original kept per node --
const ORIG = new WeakMap();
const CONVERTED = { s: new Map(), t: new Map() };
function script() { try { return localStorage.getItem("script") || "orig"; } catch (e) { return "orig"; } }

async function toScript() {
  const want = script();
  for (const b of document.querySelectorAll("#script button")) b.setAttribute("aria-pressed", b.dataset.script === want ? "true" : "false");
  const nodes = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
    acceptNode: (n) => (/[\u3400-\u9fff]/.test(ORIG.get(n) || n.nodeValue) && !n.parentElement.closest("script,style,#script,.en")
      ? NodeFilter.FILTER_ACCEPT : NodeFilter.FILTER_REJECT) });
  while (walk.nextNode()) nodes.push(walk.currentNode);
  for (const n of nodes) if (!ORIG.has(n)) ORIG.set(n, n.nodeValue);
  if (want !== "s" && want !== "t") {
    for (const n of nodes) if (n.nodeValue !== ORIG.get(n)) n.nodeValue = ORIG.get(n);
    document.body.dataset.script = "orig";
    return;
  }
  const cache = CONVERTED[want];
  const todo = [...new Set(nodes.map((n) => ORIG.get(n)).filter((t) => !cache.has(t)))];
  for (let i = 0; i < todo.length;) {  // pieces well under the API's body limit
    const chunk = [];
    let size = 0;
    while (i < todo.length && (size === 0 || size + todo[i].length < 3000)) { size += todo[i].length; chunk.push(todo[i++]); }
    try {
      const r = await api("/api/convert", { method: "POST", body: JSON.stringify({ texts: chunk, script: want }) });
      chunk.forEach((t, j) => cache.set(t, r.texts[j]));
    } catch (e) { fail(e); return; }
  }
  if (script() !== want) return;  // toggled again meanwhile
  for (const n of nodes) if (n.isConnected && cache.has(ORIG.get(n))) n.nodeValue = cache.get(ORIG.get(n));
  document.body.dataset.script = want;
}

function fillForm(state) {
  for (const k of FIELDS) {
    const input = document.getElementById(k);
    if (!input) continue;
    const v = state[k] || (k === "mode" ? DEFAULT_MODE : "");
    if (input.tagName === "SELECT" && v && ![...input.options].some((o) => o.value === v)) {
      input.append(el("option", { value: v }, v)); // a value from a shared URL that the menu lacks
    }
    input.value = v;
  }
  const filtered = ["author", "dynasty", "collection", "form"].some((k) => state[k]) || (state.mode && state.mode !== DEFAULT_MODE);
  if (filtered && state.q) $("#filters").open = true;
}

function render() {
  const state = current();
  fillForm(state);
  const view = state.poem ? "poem" : state.q ? "results" : state.view === "check" ? "check"
    : state.author ? "list" : (state.dynasty || state.collection) ? "list" : "start";
  for (const id of ["poem", "results", "list", "start", "check"]) $("#" + id).hidden = id !== view;
  $("#more").hidden = true;
  $("#legend").hidden = !(tonesOn() && (view === "poem" || view === "results"));
  $("#tones").setAttribute("aria-pressed", tonesOn() ? "true" : "false");
  $("#meter-link").setAttribute("aria-current", view === "check" ? "page" : "false");
  if (view === "check") return showCheck(state);
  if (view === "poem") return showPoem(state);
  if (view === "results") return showResults(state);
  if (view === "start") return showStart(state);
  return state.author ? showPoet(state) : showBrowse(state);
}

let INFO = null;

// The collection filter's values, name -> poems: two collections may hold a book of one name
// (唐诗三百首), and the filter takes both, so it is one value with both counts.
function bookCounts(collections) {
  const books = new Map();
  for (const c of collections) books.set(c.book || c.collection, (books.get(c.book || c.collection) || 0) + c.poems);
  return books;
}

async function loadInfo() {
  try {
    const info = INFO = await api("/api/info");
    LIMITS = { ...LIMITS, ...(info.limits || {}) };
    const dyn = $("#dynasty");
    for (const d of info.facets.dynasties) dyn.append(el("option", { value: d.name }, d.name));
    const col = $("#collection");
    for (const name of bookCounts(info.facets.collections).keys()) col.append(el("option", { value: name }, name));
    if (info.has_vectors === false) {
      HAS_VECTORS = false;
      DEFAULT_MODE = "lexical";
      for (const o of $("#mode").options) o.disabled = o.value !== "lexical";
    }
    const n = info.counts || {};
    const how = HAS_VECTORS ? `${info.index_type || ""} · model ${String(info.model || "").split("/").pop()}` : "lexical only";
    $("#about").textContent = `${(n.poems || 0).toLocaleString()} 首 · ${(n.texts || 0).toLocaleString()} 句 · ${how}`;
  } catch (e) {
    fail(e);
  }
}

function fromForm() {
  const s = {};
  for (const k of FIELDS) s[k] = document.getElementById(k).value.trim();
  return s;
}

document.addEventListener("DOMContentLoaded", async () => {
  $("#search").addEventListener("submit", (ev) => {
    ev.preventDefault();
    go(fromForm());
  });
  for (const id of ["mode", "dynasty", "collection"]) {
    document.getElementById(id).addEventListener("change", () => { if ($("#q").value.trim()) go(fromForm()); });
  }
  $("#home").addEventListener("click", (ev) => { ev.preventDefault(); go({}); });
  $("#meter-link").addEventListener("click", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button) return;
    ev.preventDefault(); go({ view: "check" });
  });
  $("#tones").addEventListener("click", () => {
    try { localStorage.setItem("tones", tonesOn() ? "off" : "on"); } catch (e) { /* private mode */ }
    render();
  });
  $("#check-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const next = { view: "check", text: $("#check-text").value.trim(), strict: $("#check-strict").checked ? "1" : "" };
    if (!next.text) return showCheck(next, true);  // the API says what is missing, in the page's words
    const url = urlFor(next);
    if (url !== location.pathname + location.search) history.pushState(null, "", url);
    showCheck(next, true);
  });
  for (const b of document.querySelectorAll("#script button")) {
    b.addEventListener("click", () => { try { localStorage.setItem("script", b.dataset.script); } catch (e) { /* private mode */ } toScript(); });
  }
  window.addEventListener("popstate", render);
  if (matchMedia("(min-width: 561px)").matches) $("#filters").open = true;  // folded away on phones only
  await loadInfo();
  await render();
  document.body.dataset.ready = "1";  // filters filled: tests and screenshots start typing after this
});
