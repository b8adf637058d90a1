// The essay scorer's page: plain JS, no libraries, nothing from the network but this server.
"use strict";

const T = {
  ko: {
    title: "에세이 채점기", tab_one: "한 편 채점", tab_class: "학급 채점", api: "API 문서",
    category: "분류", prompt: "주제", all: "전체", no_prompt: "(주제 없음)",
    placeholder: "여기에 글을 붙여 넣으세요. 문단은 줄을 바꿔 구분합니다.",
    score: "채점하기", scoring: "채점 중…", integer: "보정 점수", why: "점수의 이유",
    legend_up: "점수를 올린 부분", legend_down: "점수를 내린 부분",
    legend_spacing: "띄어쓰기 (분석기가 고칠 곳)", top_words: "영향이 큰 낱말",
    top_stats: "글의 특징", organisation: "구성", content: "내용", expression: "표현",
    chars: "자", class_help: "한 학급의 글을 올리세요: AI Hub 형식 JSON을 묶은 .zip, text·prompt 열이 있는 .csv, 또는 .jsonl.",
    score_class: "학급 채점", download: "CSV 내려받기", col_id: "번호", col_prompt: "주제",
    col_score: "점수", col_integer: "보정", col_warnings: "경고", choose_file: "파일을 고르세요.",
    done: "편 채점 완료", mean: "평균", error: "오류", spacing_fix: "띄어쓰기 제안",
    parts: "기본값 {base}, n-그램 {ngrams}, 글의 특징 {statistics}, 심층 {deep} → {total}",
    footer: "dlpy EssayNet · 점수는 참고용입니다. 교사의 판단을 대신하지 않습니다.",
    stat: {log_chars: "글자 수", log_morphemes: "형태소 수", log_sentences: "문장 수",
      log_paragraphs: "문단 수", type_token_ratio: "어휘 다양성", log_types: "어휘 수",
      morphemes_per_sentence: "문장 길이(형태소)", chars_per_sentence: "문장 길이(글자)",
      punctuation_share: "문장 부호 비율", space_share: "띄어쓰기 비율",
      missing_spaces_per_char: "띄어쓰기 오류 비율", log_missing_spaces: "띄어쓰기 오류 수",
      sentences_ending_in_sf: "마침표로 끝난 문장", repeated_4grams: "반복",
      prompt_copy_share: "주제문 베끼기", sentence_length_cv: "문장 길이의 고르지 않음",
      log_longest_sentence: "가장 긴 문장", digit_share: "숫자 비율", latin_share: "로마자 비율",
      quote_share: "따옴표 비율", jamo_share: "낱자(ㅋㅋ 등) 비율", prompt_similarity: "주제문과의 유사성",
      repeated_sentence_share: "반복된 문장", log_chars_per_paragraph: "문단 길이",
      topic_similarity: "주제와의 관련성", log_chars_vs_prompt: "주제 평균 대비 글 길이"},
    codes: {empty: "빈 글", not_korean: "한국어 아님", too_short: "너무 짧음", repeated: "반복",
      shuffled: "순서 뒤섞임", out_of_distribution: "낯선 글", unknown_prompt: "모르는 주제",
      missing_prompt: "주제 없음", no_score: "점수 없음", copies_prompt: "주제문 베끼기"},
  },
  en: {
    title: "Essay scorer", tab_one: "One essay", tab_class: "A class", api: "API docs",
    category: "Category", prompt: "Prompt", all: "All", no_prompt: "(no prompt)",
    placeholder: "Paste an essay here. Put each paragraph on its own line.",
    score: "Score", scoring: "Scoring…", integer: "calibrated", why: "Why this score",
    legend_up: "raised the score", legend_down: "lowered the score",
    legend_spacing: "spacing (the analyser would fix)", top_words: "Words that mattered most",
    top_stats: "Features of the text", organisation: "Organisation", content: "Content",
    expression: "Expression", chars: "characters",
    class_help: "Upload a class's essays: a .zip of AI Hub JSON files, a .csv with text and prompt columns, or a .jsonl file.",
    score_class: "Score the class", download: "Download CSV", col_id: "id", col_prompt: "prompt",
    col_score: "score", col_integer: "calibrated", col_warnings: "warnings",
    choose_file: "Choose a file first.", done: "essays scored", mean: "mean", error: "error",
    spacing_fix: "spacing suggestion",
    parts: "base {base}, n-grams {ngrams}, text features {statistics}, deep {deep} → {total}",
    footer: "dlpy EssayNet · scores are a second opinion, not a replacement for the teacher.",
    stat: {},
    codes: {empty: "empty", not_korean: "not Korean", too_short: "too short", repeated: "repeated",
      shuffled: "shuffled", out_of_distribution: "unfamiliar", unknown_prompt: "unknown prompt",
      missing_prompt: "no prompt", no_score: "no score", copies_prompt: "copies the prompt"},
  },
};
const CRITERIA = ["organisation", "content", "expression"];
let lang = "ko";
let prompts = [];
let lastResult = null;
let classRows = [];
let sortKey = null, sortDir = 1;

const $ = (id) => document.getElementById(id);
const t = (key) => T[lang][key] ?? T.ko[key] ?? key;
function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k === "style") e.style.cssText = v; else e.setAttribute(k, v);
  }
  if (text !== undefined) e.textContent = text;
  return e;
}
const signed = (x) => (x >= 0 ? "+" : "") + x.toFixed(2);

function applyLanguage() {
  document.documentElement.lang = lang;
  for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
  for (const e of document.querySelectorAll("[data-i18n-placeholder]")) e.placeholder = t(e.dataset.i18nPlaceholder);
  $("lang").textContent = lang === "ko" ? "English" : "한국어";
  document.title = t("title") + " · dlpy";
  fillCategories(false);
  updateCount();
  if (lastResult) showResult(lastResult);
  if (classRows.length) showClass();
}

// ------------------------------------------------------------------ prompts
async function loadPrompts() {
  const r = await fetch("/api/prompts");
  prompts = (await r.json()).categories;
  fillCategories(true);
}
function fillCategories(reset) {
  const cat = $("category"), keep = cat.value;
  cat.replaceChildren(...prompts.map((c, i) => el("option", {value: i}, c.name || t("all"))));
  if (!reset && keep) cat.value = keep;
  fillPrompts(!reset);
}
function fillPrompts(keepValue) {
  const sel = $("prompt"), keep = sel.value;
  const c = prompts[Number($("category").value) || 0];
  const options = [el("option", {value: ""}, t("no_prompt"))];
  for (const p of (c ? c.prompts : [])) options.push(el("option", {value: p.title}, p.title));
  sel.replaceChildren(...options);
  sel.value = keepValue ? keep : (c && c.prompts.length ? c.prompts[0].title : "");
}

// ------------------------------------------------------------------ one essay
function updateCount() {
  $("count").textContent = $("essay").value.length.toLocaleString() + " " + t("chars");
}
async function scoreEssay() {
  const button = $("score-btn");
  button.disabled = true;
  $("status").textContent = t("scoring");
  try {
    const r = await fetch("/api/score", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({text: $("essay").value, prompt: $("prompt").value || null})});
    const body = await r.json();
    if (!r.ok) { $("status").textContent = t("error") + " " + r.status + ": " + body.detail; return; }
    $("status").textContent = body.milliseconds + " ms";
    lastResult = body;
    showResult(body);
  } catch (err) {
    $("status").textContent = t("error") + ": " + err;
  } finally {
    button.disabled = false;
  }
}
function showResult(r) {
  $("result").hidden = false;
  $("score-value").textContent = r.score === null ? "–" : r.score.toFixed(1);
  $("integer-value").textContent = r.integer ?? "–";
  const bars = [];
  for (const name of CRITERIA) {
    const v = (r.criteria || {})[name];
    if (v === undefined) continue;
    const bar = el("div", {class: "bar", "data-criterion": name});
    bar.append(el("span", {}, t(name)));
    const track = el("div", {class: "track"});
    track.append(el("div", {class: "fill", style: `width:${(100 * v / 3).toFixed(1)}%`}));
    bar.append(track, el("span", {class: "num"}, v.toFixed(2) + " / 3"));
    bars.push(bar);
  }
  $("bars").replaceChildren(...bars);
  $("warnings").replaceChildren(...r.warnings.map((w) => el("li", {"data-code": w.code}, w[lang] || w.en)));
  showExplanation(r);
}
function showExplanation(r) {
  const box = $("explained"), e = r.explanation, text = r.text;
  const n = text.length;
  const word = new Array(n).fill(null), spacing = new Array(n).fill(null), sentence = new Array(n).fill(0);
  const all = e ? e.words : [];
  const top = Math.max(1e-9, ...all.map((w) => Math.abs(w.contribution)));
  const words = all.filter((w) => Math.abs(w.contribution) >= 0.05 * top);  // not the near-zero ones
  const maxAbs = Math.max(1e-9, ...words.map((w) => Math.abs(w.contribution)));
  words.forEach((w, i) => { for (let k = w.start; k < w.end; k++) word[k] = i; });
  (r.spacing || []).forEach((s, i) => { for (let k = s.start; k < s.end; k++) spacing[k] = i; });
  if (e) {  // underline the two sentences that raised the score most and the two that lowered it
    const ranked = e.sentences.slice().sort((a, b) => b.contribution - a.contribution);
    const marked = [...ranked.slice(0, 2).filter((s) => s.contribution > 0),
                    ...ranked.slice(-2).filter((s) => s.contribution < 0)];
    for (const s of marked) for (let k = s.start; k < s.end; k++) sentence[k] = Math.sign(s.contribution);
  }
  const parts = [];
  let k = 0;
  while (k < n) {
    let j = k + 1;
    while (j < n && word[j] === word[k] && spacing[j] === spacing[k] && sentence[j] === sentence[k]) j++;
    const span = el("span", {}, text.slice(k, j));
    const classes = [];
    if (word[k] !== null) {
      const w = words[word[k]];
      classes.push(w.contribution > 0 ? "w-up" : "w-down");
      span.style.setProperty("--a", (0.15 + 0.5 * Math.abs(w.contribution) / maxAbs).toFixed(2));
      span.title = signed(w.contribution);
      span.dataset.contribution = w.contribution;
    }
    if (spacing[k] !== null) {
      classes.push("sp");
      const s = r.spacing[spacing[k]];
      span.title = (span.title ? span.title + " · " : "") + t("spacing_fix") + ": " + s.suggestion;
    }
    if (sentence[k] > 0) classes.push("s-up"); else if (sentence[k] < 0) classes.push("s-down");
    if (classes.length) span.className = classes.join(" ");
    parts.push(span);
    k = j;
  }
  box.replaceChildren(...parts);
  const seen = new Set();  // one line per word, at its strongest occurrence
  $("top-words").replaceChildren(...words.filter((w) => !seen.has(w.text) && seen.add(w.text))
    .map((w) => el("li", {class: w.contribution > 0 ? "pos" : "neg"}, `${w.text}  ${signed(w.contribution)}`)));
  $("top-stats").replaceChildren(...(e ? e.statistics : []).map((s) => el("li",
    {class: s.contribution > 0 ? "pos" : "neg"}, `${statName(s.name)}  ${signed(s.contribution)}`)));
  if (e) {
    let line = t("parts");
    if ("lm" in e.parts) line = line.replace(" → ", ", LM {lm} → ");  // a model with --lm-features
    for (const [key, value] of Object.entries({...e.parts, total: e.total})) line = line.replace(`{${key}}`, value.toFixed(2));
    $("parts").textContent = line;
  } else $("parts").textContent = "";
}

function statName(name) {
  if (T[lang].stat[name]) return T[lang].stat[name];
  if (name.startsWith("pos_")) return lang === "ko" ? `품사 ${name.slice(4)} 비율` : `share of ${name.slice(4)} (part of speech)`;
  return name.replace(/_/g, " ");
}

// ------------------------------------------------------------------ a class
async function scoreClass() {
  const file = $("class-file").files[0];
  if (!file) { $("class-status").textContent = t("choose_file"); return; }
  const form = new FormData();
  form.append("file", file);
  $("class-btn").disabled = true;
  $("class-status").textContent = "";
  const progress = $("progress");
  progress.hidden = false; progress.value = 0;
  classRows = [];
  try {
    const r = await fetch("/api/score-batch?format=ndjson", {method: "POST", body: form});
    if (!r.ok) { const b = await r.json(); $("class-status").textContent = t("error") + " " + r.status + ": " + b.detail; return; }
    const reader = r.body.getReader(), decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (value) buffer += decoder.decode(value, {stream: true});
      let cut;
      while ((cut = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, cut); buffer = buffer.slice(cut + 1);
        if (!line.trim()) continue;
        const row = JSON.parse(line);
        if (row.summary) continue;
        classRows.push(row);
        progress.max = row.total; progress.value = row.done;
        $("class-status").textContent = `${row.done} / ${row.total}`;
      }
      if (done) break;
    }
    $("class-status").textContent = `${classRows.length} ${t("done")}`;
    showClass();
  } catch (err) {
    $("class-status").textContent = t("error") + ": " + err;
  } finally {
    $("class-btn").disabled = false;
  }
}
function cell(row, key) {
  if (CRITERIA.includes(key)) return row.criteria ? row.criteria[key] : null;
  if (key === "warnings") return (row.warnings || []).map((c) => T[lang].codes[c] || c).join(", ") || (row.error || "");
  return row[key] ?? null;
}
function showClass() {
  $("class-result").hidden = false;
  const rows = classRows.slice();
  if (sortKey) rows.sort((a, b) => {
    const x = cell(a, sortKey), y = cell(b, sortKey);
    if (x === y) return 0; if (x === null) return 1; if (y === null) return -1;
    return (x < y ? -1 : 1) * sortDir;
  });
  for (const th of document.querySelectorAll("#class-table th")) {
    th.classList.toggle("sorted-asc", th.dataset.key === sortKey && sortDir > 0);
    th.classList.toggle("sorted-desc", th.dataset.key === sortKey && sortDir < 0);
  }
  const keys = ["id", "prompt", "score", "integer", ...CRITERIA, "warnings"];
  $("class-table").tBodies[0].replaceChildren(...rows.map((row) => {
    const tr = el("tr");
    for (const key of keys) {
      const v = cell(row, key);
      const td = el("td", {class: typeof v === "number" ? "num" : (row.error && key === "warnings" ? "err" : "")},
        v === null ? "" : (typeof v === "number" && key !== "integer" ? v.toFixed(key === "score" ? 1 : 2) : String(v)));
      tr.append(td);
    }
    return tr;
  }));
  // histogram of the calibrated integer scores, 0-30
  const counts = new Array(31).fill(0);
  const scored = classRows.filter((r) => typeof r.integer === "number");
  scored.forEach((r) => counts[r.integer]++);
  const low = Math.min(...scored.map((r) => r.integer), 30), high = Math.max(...scored.map((r) => r.integer), 0);
  const top = Math.max(1, ...counts);
  const cols = [];
  for (let s = Math.min(low, high); s <= Math.max(low, high); s++) {
    const c = el("div", {class: "col", style: `height:${(100 * counts[s] / top).toFixed(0)}%`, title: `${s}: ${counts[s]}`});
    c.append(el("span", {}, String(s)));
    cols.push(c);
  }
  $("histogram").replaceChildren(...cols);
  const mean = scored.reduce((a, r) => a + r.score, 0) / Math.max(1, scored.length);
  $("class-summary").textContent = `${scored.length} / ${classRows.length} · ${t("mean")} ${mean.toFixed(1)}`;
}
function csvField(v) {
  const s = v === null || v === undefined ? "" : String(v);
  return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}
function downloadCsv() {
  const header = ["id", "prompt", "score", "integer", ...CRITERIA, "characters", "warnings", "error"];
  const lines = [header.join(",")];
  for (const r of classRows) {
    lines.push([r.id, r.prompt, r.score, r.integer, ...CRITERIA.map((c) => r.criteria ? r.criteria[c] : ""),
      r.characters, (r.warnings || []).join(" "), r.error].map(csvField).join(","));
  }
  const blob = new Blob(["\ufeff" + lines.join("\n") + "\n"], {type: "text/csv;charset=utf-8"});
  const a = el("a", {href: URL.createObjectURL(blob), download: "scores.csv"});
  document.body.append(a); a.click(); a.remove();
}

// ------------------------------------------------------------------ wiring
function showTab(which) {
  $("one").hidden = which !== "one"; $("class").hidden = which !== "class";
  $("tab-one").classList.toggle("active", which === "one");
  $("tab-class").classList.toggle("active", which === "class");
}
$("tab-one").addEventListener("click", () => showTab("one"));
$("tab-class").addEventListener("click", () => showTab("class"));
$("lang").addEventListener("click", () => { lang = lang === "ko" ? "en" : "ko"; applyLanguage(); });
$("category").addEventListener("change", () => fillPrompts(false));
$("essay").addEventListener("input", updateCount);
$("score-btn").addEventListener("click", scoreEssay);
$("class-btn").addEventListener("click", scoreClass);
$("download-csv").addEventListener("click", downloadCsv);
for (const th of document.querySelectorAll("#class-table th")) {
  th.addEventListener("click", () => {
    sortDir = sortKey === th.dataset.key ? -sortDir : (["id", "prompt", "warnings"].includes(th.dataset.key) ? 1 : -1);
    sortKey = th.dataset.key; showClass();
  });
}
updateCount();
loadPrompts();
