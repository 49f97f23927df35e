// Core314 live updates: one WebSocket per page, reconnecting with backoff. Each message is re-dispatched
// on <body> as "live" (detail = the message) and as "live-<app>" so htmx regions can refresh themselves
// with hx-trigger="live-<app> from:body"; the refresh is an ordinary, permission-checked HTTP request.
(function () {
  "use strict";
  var url = document.body.dataset.liveUrl;
  if (!url) return;
  var status = document.getElementById("live-status");
  var delay = 1000;
  var maxDelay = 30000;
  var socket = null;
  var pingTimer = null;

  function setState(state, label) {
    if (!status) return;
    status.dataset.state = state;
    status.querySelector(".label").textContent = label;
  }

  // Regions refresh at most every 300 ms per app, and always once more after the last change, so a burst
  // of rows costs a few fetches and the page still ends up showing the newest state.
  var minGap = 300;
  var pending = {};
  function refresh(app) {
    var slot = pending[app] || (pending[app] = { timer: null, dirty: false });
    if (slot.timer) { slot.dirty = true; return; }
    document.body.dispatchEvent(new CustomEvent("live-" + app));
    slot.timer = setTimeout(function () {
      slot.timer = null;
      if (slot.dirty) { slot.dirty = false; refresh(app); }
    }, minGap);
  }

  function dispatch(message) {
    document.body.dispatchEvent(new CustomEvent("live", { detail: message }));
    if (message.model) refresh(message.model.split(".")[0]);
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + url);
    setState("connecting", "Connecting…");
    socket.onopen = function () {
      delay = 1000;
      setState("open", "Live");
      pingTimer = setInterval(function () {
        if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ping" }));
      }, 25000);
    };
    socket.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      if (message.event === "hello" || message.event === "pong") return;
      dispatch(message);
    };
    socket.onclose = function (event) {
      clearInterval(pingTimer);
      if (event.code === 4401) { setState("closed", "Signed out"); return; }
      setState("closed", "Reconnecting…");
      // Full jitter keeps a restarted server from being hit by every page at the same instant.
      var wait = Math.random() * delay;
      delay = Math.min(delay * 2, maxDelay);
      setTimeout(function () {
        connect();
        // Whatever changed while we were away: ask every live region to refresh once.
        document.body.dispatchEvent(new CustomEvent("live-resync"));
      }, wait);
    };
  }

  window.core314Live = { dispatch: dispatch };
  connect();
})();
