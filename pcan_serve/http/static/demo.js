// pcan demo page: POST the chosen files to /predict (the API itself), show the answer per branch, the timeline
// when windows were asked for, and the skeleton over a few frames (decoded by the browser when it can).
"use strict";

const $ = (id) => document.getElementById(id);
const BRANCHES = [["rgb", "RGB"], ["pose", "Pose"], ["fused", "Fused head"]];
const LIMBS = [[0, 1], [0, 2], [1, 3], [2, 4], [5, 6], [5, 11], [6, 12], [11, 12], [5, 7], [7, 9], [6, 8], [8, 10],
  [11, 13], [13, 15], [12, 14], [14, 16]];
const PERSONS = ["#ff4040", "#40a0ff", "#40dc60", "#ffc800", "#c850ff", "#00dcdc", "#ff8000", "#ff50aa"];
const CLASSES = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
  "#17becf"];
const HINTS = {
  413: "The upload is over one of the server's limits.",
  422: "The server could not use the video or the skeleton.",
  503: "The server is busy or still loading its model; try again in a moment.",
  504: "The server did not finish in time.",
};
const FRAMES_SHOWN = 4;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

function pct(score) { return (100 * score).toFixed(1) + " %"; }

function bar(branch, score, title) {
  const node = el("div", { class: "bar", "data-branch": branch, title });
  if (score === null) node.append(el("span", {}, "–"));
  else {
    const fill = el("i");
    fill.style.width = Math.max(0.5, 70 * score) + "%";
    node.append(fill, el("span", {}, pct(score)));
  }
  return node;
}

function showError(type, message, status) {
  $("error-message").textContent = message;
  const hint = HINTS[status] ? HINTS[status] + " " : "";
  $("error-type").textContent = hint + "(" + type + (status ? ", HTTP " + status : "") + ")";
  $("error").hidden = false;
}

function showAnswer(answer, roundTripMs) {
  const top = answer.top_k[0];
  $("top1").textContent = top.name;
  $("top1").dataset.label = top.label;
  const m = answer.model || {};
  const untrained = m.weights === "untrained" ? " — untrained weights: the answers are meaningless" : "";
  $("model").textContent = `${answer.video} · ${m.name} on ${m.backend} · served: ${answer.fusion}${untrained}`;

  const branches = BRANCHES.filter(([key]) => answer.branches && answer.branches[key]);
  const head = $("class-head");
  head.replaceChildren(el("th", {}, "class"), el("th", { "data-branch": "served" }, `Served (${answer.fusion})`),
    ...branches.map(([key, title]) => el("th", { "data-branch": key }, title)));
  const rows = answer.top_k.map((c) => {
    const cells = [el("td", {}, c.name), el("td", { class: "score" }, bar("served", c.score, "served"))];
    for (const [key, title] of branches) {
      const hit = answer.branches[key].top_k.find((b) => b.label === c.label);
      cells.push(el("td", { class: "score" }, bar(key, hit ? hit.score : null, title)));
    }
    return el("tr", { "data-label": c.label }, ...cells);
  });
  $("classes").tBodies[0].replaceChildren(...rows);
  $("branch-tops").replaceChildren("Each branch's own best class: ", ...branches.flatMap(([key, title], i) => {
    const best = answer.branches[key].top_k[0];
    return [i ? " · " : "", el("b", { "data-branch": key, "data-label": best.label }, title), `: ${best.name} ${pct(best.score)}`];
  }));

  const timings = Object.entries(answer.timing_ms || {}).map(([k, v]) => [k + " (server)", v.toFixed(1) + " ms"]);
  timings.push(["round trip (browser)", roundTripMs.toFixed(0) + " ms"]);
  $("timings").replaceChildren(...timings.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  const s = answer.skeleton;
  $("skeleton-source").textContent = !s ? "" : s.source === "estimated"
    ? `Skeleton estimated by ${s.estimator}: ${s.persons} person(s).`
    : `Skeleton as uploaded: ${s.persons} person(s).`;
  showTimeline(answer.timeline || []);
  $("result").hidden = false;
}

// Each window labels the moments nearer its centre than any other's: cut at the midpoints between centres.
function showTimeline(windows) {
  $("timeline").hidden = windows.length === 0;
  if (!windows.length) return;
  const end = windows[windows.length - 1].end;
  const centres = windows.map((w) => (w.start + w.end) / 2);
  const colors = new Map();
  const segments = windows.map((w, i) => {
    const a = i === 0 ? w.start : (centres[i - 1] + centres[i]) / 2;
    const b = i === windows.length - 1 ? w.end : (centres[i] + centres[i + 1]) / 2;
    const top = w.top_k[0];
    if (!colors.has(top.label)) colors.set(top.label, [CLASSES[colors.size % CLASSES.length], top.name]);
    const seg = el("div", { class: "seg", "data-label": top.label,
      title: `${w.start.toFixed(1)}–${w.end.toFixed(1)} s: ${top.name} ${pct(top.score)}` }, top.name);
    seg.style.left = (100 * a / end) + "%";
    seg.style.width = (100 * (b - a) / end) + "%";
    seg.style.background = colors.get(top.label)[0];
    return seg;
  });
  $("strip").replaceChildren(...segments);
  $("axis-end").textContent = end.toFixed(1) + " s";
  $("legend").replaceChildren(...[...colors.values()].map(([color, name]) => {
    const swatch = el("i");
    swatch.style.background = color;
    return el("span", {}, swatch, name);
  }));
}

async function readSkeleton(file, answer) {
  if (file && /\.json$/i.test(file.name)) {
    try { return JSON.parse(await file.text()); } catch { return null; }
  }
  return answer && answer.skeleton && answer.skeleton.keypoint ? answer.skeleton : null;
}

function openVideo(file) {
  const video = el("video", { muted: "", preload: "auto" });
  video.src = URL.createObjectURL(file);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), 8000);
    video.onloadeddata = () => { clearTimeout(timer); resolve(video); };
    video.onerror = () => { clearTimeout(timer); resolve(null); };
  });
}

function seek(video, t) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 4000);
    video.onseeked = () => { clearTimeout(timer); resolve(); };
    video.currentTime = t;
  });
}

function drawSkeleton(ctx, skel, frame, sx, sy) {
  const width = Math.max(2, ctx.canvas.width / 160);
  skel.keypoint.forEach((person, p) => {
    const kp = person[frame], sc = skel.keypoint_score ? skel.keypoint_score[p][frame] : null;
    if (!kp) return;
    const seen = (j) => !sc || sc[j] > 0;
    ctx.strokeStyle = ctx.fillStyle = PERSONS[p % PERSONS.length];
    ctx.lineWidth = width;
    for (const [a, b] of LIMBS) {
      if (!seen(a) || !seen(b)) continue;
      ctx.beginPath();
      ctx.moveTo(kp[a][0] * sx, kp[a][1] * sy);
      ctx.lineTo(kp[b][0] * sx, kp[b][1] * sy);
      ctx.stroke();
    }
    kp.forEach(([x, y], j) => {
      if (!seen(j)) return;
      ctx.beginPath();
      ctx.arc(x * sx, y * sy, width * 1.4, 0, 2 * Math.PI);
      ctx.fill();
    });
  });
}

async function showFrames(file, skeletonFile, answer) {
  const skel = await readSkeleton(skeletonFile, answer);
  const video = await openVideo(file);
  const frames = skel ? skel.keypoint[0] ? skel.keypoint[0].length : 0 : 0;
  if (!video && !frames) return;
  const shape = skel && skel.img_shape ? skel.img_shape : [360, 640];
  const [h, w] = video ? [video.videoHeight, video.videoWidth] : shape;
  const scale = Math.min(1, 480 / w);
  const canvases = [];
  for (let k = 0; k < FRAMES_SHOWN; k++) {
    const frame = frames ? Math.round(k * (frames - 1) / (FRAMES_SHOWN - 1)) : null;
    const canvas = el("canvas", { width: Math.round(w * scale), height: Math.round(h * scale) });
    const ctx = canvas.getContext("2d");
    const t = video ? (frames ? (frame + 0.5) / frames : (k + 0.5) / FRAMES_SHOWN) * video.duration : null;
    if (video) {
      await seek(video, t);
      ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
    }
    if (skel && frames) {
      const normalized = skel.coordinates === "normalized";
      const [sh, sw] = normalized ? [1, 1] : (skel.img_shape || [h, w]);
      drawSkeleton(ctx, skel, frame, canvas.width / sw, canvas.height / sh);
    }
    const caption = frame !== null ? `frame ${frame}` : `${t.toFixed(1)} s`;
    canvases.push(el("figure", {}, canvas, el("figcaption", {}, caption)));
  }
  $("frames-note").textContent = video ? "" :
    `This browser cannot decode ${file.name} (e.g. AVI), so the skeleton is drawn on a blank frame.`;
  $("canvases").replaceChildren(...canvases);
  $("frames").hidden = false;
}

$("form").addEventListener("submit", async (event) => {
  event.preventDefault();
  for (const id of ["error", "result", "frames"]) $(id).hidden = true;
  const video = $("video").files[0];
  const skeleton = $("skeleton").files[0];
  const body = new FormData();
  body.append("video", video, video.name);
  if (skeleton) body.append("skeleton", skeleton, skeleton.name);
  for (const name of ["top_k", "num_clips", "window", "stride"]) {
    const value = $(name).value.trim();
    if (value) body.append(name, value);
  }
  body.append("fusion", $("fusion").value);
  $("submit").disabled = true;
  $("status").textContent = "classifying…";
  const started = performance.now();
  try {
    const res = await fetch("/predict", { method: "POST", body });
    const text = await res.text();
    let data = null;
    try { data = JSON.parse(text); } catch { /* not JSON: a proxy's page, or nothing */ }
    if (!res.ok || !data || !data.ok) {
      const error = data && data.error ? data.error : { type: "HTTPError", message: res.statusText || text.slice(0, 200) };
      showError(error.type, error.message, res.status);
      return;
    }
    showAnswer(data, performance.now() - started);
    await showFrames(video, skeleton, data);
  } catch (err) {
    showError("NetworkError", "The server could not be reached: " + err.message, 0);
  } finally {
    $("submit").disabled = false;
    $("status").textContent = "";
  }
});
