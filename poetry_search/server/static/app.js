// poetry-search page: the URL is the whole state (?q=…&mode=…&author=…&poem=…&line=…&echo=…), so a
// search or a poem can be bookmarked and shared and the back button works. Every corpus string
// goes into the page as text (textContent / text nodes), never as markup.
"use strict";

const FIELDS = ["q", "mode", "author", "dynasty", "collection", "form"];
const VIEW = ["poem", "line", "echo"];
const $ = (sel) => document.querySelector(sel);
let seq = 0;             // answers to superseded requests are dropped
let DEFAULT_MODE = "hybrid";  // "lexical" on an index built with --lexical-only (no vectors)
let HAS_VECTORS = true;

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
  return s;
}

function urlFor(state) {
  const p = new URLSearchParams();
  for (const k of FIELDS.concat(VIEW)) {
    const v = state[k];
    if (v && !(k === "mode" && v === DEFAULT_MODE)) p.set(k, v);
  }
  const qs = p.toString();
  return qs ? "?" + qs : location.pathname;
}

function go(state, replace) {
  const url = urlFor(state);
  if (url !== (location.search || location.pathname)) history[replace ? "replaceState" : "pushState"](null, "", url);
  render();
}

async function api(path) {
  const r = await fetch(path, { headers: { Accept: "application/json" } });
  let body;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) throw new Error((body && body.error && body.error.message) || `${r.status} ${r.statusText}`);
  return body;
}

function status(text, isError) {
  const s = $("#status");
  s.textContent = text || "";
  s.classList.toggle("error", !!isError);
}

// The query's characters, marked in `text`; `folds` maps traditional characters to simplified.
function marked(text, folds) {
  const frag = document.createDocumentFragment();
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

function metaLine(h) {
  const parts = [];
  const sep = () => el("span", { class: "sep", "aria-hidden": "true" }, "·");
  if (h.title) parts.push(el("span", { class: "title" }, "《" + h.title + "》"));
  for (const v of [h.author || "佚名", h.dynasty, h.book || h.collection]) {
    if (!v) continue;
    if (parts.length) parts.push(sep());
    parts.push(el("span", {}, v));
  }
  return parts;
}

const MATCH = { exact: "原句", contains: "含此句", semantic: null };

function card(h, folds, state) {
  const badge = h.match && MATCH[h.match] ? el("span", { class: "badge" }, MATCH[h.match]) : null;
  const score = h.score == null ? "" : h.score.toFixed(4);
  const couplet = h.context && h.context !== h.original ? el("div", { class: "couplet" }, ...verses(h.context, folds)) : null;
  const open = () => { go({ ...state, poem: h.poem_id, line: String(h.id), echo: "" }); };
  return el("button", { type: "button", class: "card", "data-poem": h.poem_id, "data-line": h.id, onclick: open },
    el("div", { class: "card-top" },
      el("span", { class: "line" }, marked(h.original || h.text, folds)),
      el("span", { class: "score", title: "cosine similarity" }, badge, score)),
    couplet,
    el("div", { class: "meta" }, ...metaLine(h),
       h.occurrences > 1 ? el("span", { class: "occ" }, ` （见于 ${h.occurrences} 首）`) : null));
}

async function showResults(state) {
  const box = $("#results");
  $("#poem").hidden = true;
  box.hidden = false;
  if (!state.q) { box.replaceChildren(); status(""); return; }
  // ? (one character) or * (any run) make the query a pattern: find, not search
  const pattern = /[?*？＊]/.test(state.q);
  const p = pattern ? new URLSearchParams({ pattern: state.q.replace(/？/g, "?").replace(/＊/g, "*"), k: "20" })
                    : new URLSearchParams({ q: state.q, k: "20", mode: state.mode || DEFAULT_MODE });
  for (const k of ["author", "dynasty", "collection", "form"]) if (state[k]) p.set(k, state[k]);
  const mine = ++seq;
  status("搜索中…");
  let data;
  try { data = await api((pattern ? "/api/find?" : "/api/search?") + p); } catch (e) {
    if (mine === seq) { box.replaceChildren(); status(e.message, true); }
    return;
  }
  if (mine !== seq) return;
  box.replaceChildren(...data.hits.map((h) => card(h, data.folds, state)));
  const n = data.hits.length;
  status(!n ? "没有结果：换个说法，或去掉筛选条件"
    : pattern ? `共 ${data.total.toLocaleString()} 句合此格式${data.total > n ? `，列出前 ${n} 句` : ""}` : `${n} 条结果`);
  document.title = `${state.q} · 寻诗`;
}

// A couplet wraps between its lines, never inside one: each line with its punctuation is one unit.
function verses(text, folds) {
  const parts = text.match(/[^，。！？；：、,.!?;:]+[，。！？；：、,.!?;:」』”’）)]*|[，。！？；：、,.!?;:]+/g) || [text];
  return parts.map((part) => el("span", { class: "seg" }, marked(part, folds)));
}

// A paragraph (usually a couplet) with each of its lines as a unit that never breaks inside.
function paragraph(text, lines, state, folds) {
  const p = el("p", { class: "para" });
  let at = 0;
  for (const ln of lines) {
    const i = ln.original ? text.indexOf(ln.original, at) : -1;
    if (i < 0) continue;
    if (i > at) p.append(text.slice(at, i));
    const hit = String(ln.text_id) === state.line;
    const open = String(ln.text_id) === state.echo;
    at = i + ln.original.length;
    // the punctuation right after a line stays with it
    const tail = (text.slice(at).match(/^[，。！？；：、,.!?;:」』”’）)]+/) || [""])[0];
    at += tail.length;
    p.append(el("button", {
      type: "button", class: "verse" + (hit ? " hit" : "") + (open ? " open" : ""), "data-line": ln.text_id,
      title: "echoes: the nearest lines by other poets", "aria-expanded": open ? "true" : "false",
      onclick: () => { if (HAS_VECTORS) go({ ...state, echo: open ? "" : String(ln.text_id) }); },
    }, marked(ln.original, folds), tail));
  }
  if (at < text.length) p.append(text.slice(at));
  return p;
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
    if (mine === seq) { status(e.message, true); box.hidden = true; $("#results").hidden = true; }
    return;
  }
  if (mine !== seq) return;
  $("#results").hidden = true;
  const back = el("button", { type: "button", class: "back", onclick: () => go({ ...state, poem: "", line: "", echo: "" }) },
    state.q ? `← 回到「${state.q}」的结果` : "← 搜索");
  const byline = [poem.author || "佚名", poem.dynasty].filter(Boolean).join(" · ");
  const source = [poem.book || poem.collection, poem.form, poem.chapter, poem.section].filter(Boolean).join(" · ");
  const stanzas = el("div", { class: "stanzas" });
  poem.paragraphs.forEach((text, i) => {
    const lines = poem.lines.filter((l) => l.paragraph === i);
    stanzas.append(paragraph(text, lines, state, poem.folds));
    if (echoes && lines.some((l) => String(l.text_id) === state.echo)) stanzas.append(echoList(echoes, state));
  });
  const hint = HAS_VECTORS ? el("p", { class: "hint" }, "点一句诗，看其他诗人笔下最相近的句子 · tap a line for its echoes") : null;
  box.replaceChildren(back, el("h1", {}, poem.title || "无题"), el("div", { class: "byline" }, byline),
                      source ? el("div", { class: "source" }, source) : null, stanzas, hint);
  box.hidden = false;
  document.title = `${poem.title || "无题"} · ${poem.author || "佚名"} · 寻诗`;
  const target = box.querySelector(".verse.hit");
  if (target && !state.echo) target.scrollIntoView({ block: "center" });
}

function echoList(data, state) {
  const items = data.hits.map((h) => {
    const next = { ...state, poem: h.poem_id, line: String(h.id), echo: "" };
    const a = el("a", { href: urlFor(next), class: "echo-link", onclick: (ev) => { ev.preventDefault(); go(next); } },
      el("div", { class: "echo-line" }, h.original || h.text),
      el("div", { class: "echo-meta" }, ...metaLine(h), h.score == null ? "" : `  ${h.score.toFixed(3)}`));
    return el("li", {}, a);
  });
  return el("aside", { class: "echoes", "aria-label": "echoes" },
    el("h2", {}, "异代回响 · 他人诗中最相近的句子（由古及今）"),
    items.length ? el("ol", {}, ...items) : el("p", {}, "没有找到其他诗人的相近诗句"));
}

function fillForm(state) {
  for (const k of FIELDS) {
    const input = document.getElementById(k);
    if (!input) continue;
    let v = state[k] || (k === "mode" ? DEFAULT_MODE : "");
    if (input.tagName === "SELECT" && v && ![...input.options].some((o) => o.value === v)) {
      input.append(el("option", { value: v }, v)); // a value from a shared URL that the menu lacks
    }
    input.value = v;
  }
}

function render() {
  const state = current();
  fillForm(state);
  if (state.poem) showPoem(state); else showResults(state);
}

async function loadInfo() {
  try {
    const info = await api("/api/info");
    const dyn = $("#dynasty");
    for (const d of info.facets.dynasties) dyn.append(el("option", { value: d.name }, d.name));
    const col = $("#collection");
    for (const c of info.facets.collections) {
      const v = c.book || c.collection;
      if (![...col.options].some((o) => o.value === v)) col.append(el("option", { value: v }, v));
    }
    if (info.has_vectors === false) {
      HAS_VECTORS = false;
      DEFAULT_MODE = "lexical";
      for (const o of $("#mode").options) o.disabled = o.value !== "lexical";
    }
    const n = info.counts || {};
    const how = HAS_VECTORS ? `${info.index_type || ""} · model ${String(info.model || "").split("/").pop()}` : "lexical only";
    $("#about").textContent = `${(n.poems || 0).toLocaleString()} 首 · ${(n.texts || 0).toLocaleString()} 句 · ${how}`;
  } catch (e) {
    status(e.message, true);
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
  window.addEventListener("popstate", render);
  await loadInfo();
  render();
  document.body.dataset.ready = "1";  // filters filled: tests and screenshots start typing after this
});
