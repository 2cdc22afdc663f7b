// Seller Verify review console: keyboard shortcuts, image tools, and the video call.
// Hand-written, no dependencies, no build step; loaded from 'self' only (CSP).
"use strict";

(function () {
  const page = document.body.dataset.page;

  function typing(target) {
    const tag = (target && target.tagName) || "";
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  function submit(id) {
    const form = document.getElementById(id);
    if (form) { form.requestSubmit ? form.requestSubmit() : form.submit(); return true; }
    return false;
  }

  // ---------------------------------------------------------------- queue
  function queueKeys() {
    const rows = Array.from(document.querySelectorAll("#queue-table tbody tr[data-case]"));
    let at = -1;
    function select(i) {
      if (!rows.length) return;
      at = Math.max(0, Math.min(rows.length - 1, i));
      rows.forEach((r, j) => r.classList.toggle("selected", j === at));
      const link = rows[at].querySelector("a.case-link");
      if (link) link.focus();
    }
    document.addEventListener("keydown", (e) => {
      if (typing(e.target) || e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === "n") { e.preventDefault(); submit("next-form"); }
      else if (e.key === "j") { e.preventDefault(); select(at + 1); }
      else if (e.key === "k") { e.preventDefault(); select(at - 1); }
      else if (e.key === "c" && at >= 0) {
        const form = rows[at].querySelector("form");
        if (form) { e.preventDefault(); form.requestSubmit(); }
      }
    });
  }

  // ---------------------------------------------------------------- images
  const state = new Map();
  function transform(fig) {
    const s = state.get(fig) || { zoom: 1, rot: 0 };
    state.set(fig, s);
    const inner = fig.querySelector(".frame > .stage") || fig.querySelector(".frame > img");
    if (inner) inner.style.transform = "scale(" + s.zoom + ") rotate(" + s.rot + "deg)";
    return s;
  }
  function act(fig, what) {
    const s = transform(fig);
    if (what === "zoom-in") s.zoom = Math.min(6, s.zoom * 1.5);
    else if (what === "zoom-out") s.zoom = Math.max(0.5, s.zoom / 1.5);
    else if (what === "rotate") s.rot = (s.rot + 90) % 360;
    else if (what === "compare") return compare(fig);
    transform(fig);
  }
  function compare(fig) {
    const box = document.getElementById("compare");
    if (!box) return;
    const pair = box.querySelector(".pair");
    const button = fig.querySelector('[data-act="compare"]');
    const img = fig.querySelector("img");
    const existing = pair.querySelector('[data-from="' + fig.id + '"]');
    if (existing) { existing.remove(); button.setAttribute("aria-pressed", "false"); }
    else {
      if (pair.children.length >= 2) {
        const first = pair.firstElementChild;
        const from = document.getElementById(first.dataset.from);
        if (from) from.querySelector('[data-act="compare"]').setAttribute("aria-pressed", "false");
        first.remove();
      }
      const copy = document.createElement("figure");
      copy.dataset.from = fig.id;
      const cap = document.createElement("figcaption");
      cap.textContent = fig.querySelector("figcaption").textContent;
      const big = document.createElement("img");
      big.src = img.src;
      big.alt = img.alt;
      copy.append(cap, big);
      pair.append(copy);
      button.setAttribute("aria-pressed", "true");
    }
    box.hidden = pair.children.length === 0;
  }
  function boxes(fig) {
    const raw = fig.dataset.boxes;
    if (!raw) return;
    const list = JSON.parse(raw);
    if (!list.length) return;
    const img = fig.querySelector("img");
    const frame = fig.querySelector(".frame");
    const stage = document.createElement("div");
    stage.className = "stage";
    frame.replaceChild(stage, img);
    stage.append(img);
    function draw() {
      const ns = "http://www.w3.org/2000/svg";
      const svg = document.createElementNS(ns, "svg");
      svg.setAttribute("viewBox", "0 0 " + img.naturalWidth + " " + img.naturalHeight);
      svg.setAttribute("class", "boxes");
      svg.setAttribute("aria-hidden", "true");
      list.forEach((b) => {
        const r = document.createElementNS(ns, "rect");
        r.setAttribute("x", b.x); r.setAttribute("y", b.y);
        r.setAttribute("width", b.w); r.setAttribute("height", b.h);
        const t = document.createElementNS(ns, "title");
        t.textContent = b.label;
        r.append(t);
        svg.append(r);
      });
      stage.append(svg);
    }
    if (img.complete && img.naturalWidth) draw(); else img.addEventListener("load", draw, { once: true });
  }
  function imageTools() {
    document.querySelectorAll("figure.shot[data-index]").forEach((fig) => {
      boxes(fig);
      fig.querySelectorAll("button[data-act]").forEach((b) => b.addEventListener("click", () => act(fig, b.dataset.act)));
    });
    const close = document.querySelector('[data-act="compare-close"]');
    if (close) close.addEventListener("click", () => {
      document.querySelectorAll('#compare .pair > figure').forEach((c) => {
        const from = document.getElementById(c.dataset.from);
        if (from) from.querySelector('[data-act="compare"]').setAttribute("aria-pressed", "false");
        c.remove();
      });
      document.getElementById("compare").hidden = true;
    });
  }

  // ---------------------------------------------------------------- decision form
  function decisionForm() {
    const form = document.getElementById("decide-form");
    if (!form) return;
    function sync() {
      const chosen = (form.querySelector('input[name="decision"]:checked') || {}).value;
      form.querySelectorAll(".reason-for").forEach((div) => {
        const on = div.dataset.decision === chosen;
        div.hidden = !on;
        div.querySelectorAll("select, input").forEach((el) => { el.disabled = !on; });
      });
    }
    form.addEventListener("change", sync);
    sync();
    form.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
    });
  }
  function choose(value) {
    const radio = document.getElementById("d-" + value);
    if (!radio) return false;
    radio.checked = true;
    radio.dispatchEvent(new Event("change", { bubbles: true }));
    const reason = document.getElementById("reason-" + value);
    if (reason) reason.focus();
    return true;
  }

  function caseKeys() {
    let current = null;
    document.addEventListener("focusin", (e) => {
      const fig = e.target.closest && e.target.closest("figure.shot[data-index]");
      if (fig) current = fig;
    });
    document.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        const confirm = document.getElementById("confirm-form");
        if (confirm && confirm.contains(e.target)) { e.preventDefault(); document.getElementById("confirm-yes").click(); }
        return;
      }
      if (typing(e.target) || e.ctrlKey || e.metaKey || e.altKey) return;
      const map = { a: "approve", r: "reject", u: "request_new_capture" };
      if (map[e.key]) { if (choose(map[e.key])) e.preventDefault(); return; }
      if (e.key === "c") { if (submit("claim-form")) e.preventDefault(); return; }
      if (e.key === "v") { const b = document.getElementById("start-call"); if (b) { e.preventDefault(); b.click(); } return; }
      if (e.key === "g") { e.preventDefault(); window.location.assign("/queue"); return; }
      if (e.key === "n") { e.preventDefault(); submit("next-global"); return; }
      if (/^[1-9]$/.test(e.key)) {
        const fig = document.getElementById("shot-" + e.key);
        if (fig) { e.preventDefault(); fig.focus(); current = fig; }
        return;
      }
      if (!current) return;
      const acts = { "+": "zoom-in", "=": "zoom-in", "-": "zoom-out", o: "rotate", x: "compare" };
      if (acts[e.key]) { e.preventDefault(); act(current, acts[e.key]); }
    });
  }

  // ---------------------------------------------------------------- video call, rep side
  function repCall() {
    const root = document.getElementById("call");
    document.addEventListener("keydown", (e) => {
      if (typing(e.target) || e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === "c") { if (submit("capture-form")) e.preventDefault(); }
      else if (e.key === "g") { e.preventDefault(); window.location.assign("/queue"); }
    });
    if (!root) return;
    const base = "/cases/" + root.dataset.case + "/call/";
    const img = document.getElementById("live-frame");
    const guide = document.getElementById("guidance");
    let url = null;
    async function frame() {
      try {
        const r = await fetch(base + "frame", { cache: "no-store", credentials: "same-origin" });
        if (r.status === 200) {
          const blob = await r.blob();
          const next = URL.createObjectURL(blob);
          img.src = next;
          if (url) URL.revokeObjectURL(url);
          url = next;
        }
      } catch (err) { /* the next tick retries */ }
      setTimeout(frame, 400);
    }
    async function guidance() {
      try {
        const r = await fetch(base + "guidance", { cache: "no-store", credentials: "same-origin" });
        if (r.ok) {
          const g = await r.json();
          guide.textContent = g.text;
          guide.dataset.seq = g.seq;
        }
      } catch (err) { /* retried */ }
      setTimeout(guidance, 1200);
    }
    frame();
    guidance();
  }

  // ---------------------------------------------------------------- video call, seller side
  function sellerCall() {
    const meta = (n) => (document.querySelector('meta[name="' + n + '"]') || {}).content;
    const callId = meta("call-id");
    const csrf = meta("seller-csrf");
    const video = document.getElementById("camera");
    const canvas = document.getElementById("grab");
    const status = document.getElementById("seller-status");
    let sent = 0;
    async function start() {
      try {
        const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
        video.srcObject = stream;
        await video.play();
        status.textContent = "Camera on: the reviewer can see you.";
        tick();
      } catch (err) {
        status.textContent = "The camera could not start: " + err.name + ". Allow the camera and reload.";
      }
    }
    function tick() {
      if (!video.videoWidth) { setTimeout(tick, 200); return; }
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      canvas.getContext("2d").drawImage(video, 0, 0);
      canvas.toBlob(async (blob) => {
        try {
          const r = await fetch("/call/" + callId + "/frame", {
            method: "POST", body: blob, credentials: "same-origin",
            headers: { "Content-Type": "image/jpeg", "X-CSRF-Token": csrf },
          });
          if (r.ok) { sent += 1; status.dataset.sent = String(sent); }
          else if (r.status === 403) { status.textContent = "The call has ended."; return; }
        } catch (err) { /* retried */ }
        setTimeout(tick, 400);
      }, "image/jpeg", 0.85);
    }
    start();
  }

  if (page === "queue") queueKeys();
  if (page === "case") { imageTools(); decisionForm(); caseKeys(); }
  if (page === "call") repCall();
  if (page === "seller") sellerCall();
})();
