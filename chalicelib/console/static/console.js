// Relasi staff console: the ID token in the browser session, sent with every htmx request; sign-in and
// sign-out; SLA countdowns. No inline script anywhere (CSP default-src 'self').
(function () {
  "use strict";
  var KEY = "relasi.idToken";
  // The API's stage or base path in front of /console (empty locally), as the page was served.
  var ROOT = document.documentElement.dataset.root || "";
  var HOME = ROOT + "/console";
  var SIGN_IN = HOME + "/sign-in";

  function onConsole(path) {  // a path of this console, never another site or page
    return path.indexOf(HOME) === 0 && /^(\/|$|\?)/.test(path.slice(HOME.length)) && path.indexOf("//") === -1;
  }

  function token() {
    var value = sessionStorage.getItem(KEY);
    if (!value) return null;
    try {
      var claims = JSON.parse(atob(value.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
      if (!claims.exp || claims.exp * 1000 < Date.now() + 5000) { sessionStorage.removeItem(KEY); return null; }
    } catch (e) { sessionStorage.removeItem(KEY); return null; }
    return value;
  }

  function toSignIn(expired) {
    sessionStorage.removeItem(KEY);
    var here = location.pathname + location.search;
    location.assign(SIGN_IN + "?next=" + encodeURIComponent(here) + (expired ? "&expired=1" : ""));
  }

  function safeNext() {
    var next = new URLSearchParams(location.search).get("next") || HOME;
    return onConsole(next) ? next : HOME;
  }

  // --- sign-in page ---
  function signInPage() {
    if (new URLSearchParams(location.search).get("expired")) document.getElementById("sign-in-note").hidden = false;
    var form = document.getElementById("local-sign-in");
    if (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var data = new FormData(form);
        fetch(ROOT + "/_relasi/sign-in", {method: "POST", headers: {"Content-Type": "application/json"},
          body: JSON.stringify({username: data.get("username"), password: data.get("password")})})
          .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
          .then(function (body) { sessionStorage.setItem(KEY, body.id_token); location.assign(safeNext()); })
          .catch(function () { document.getElementById("sign-in-error").hidden = false; });
      });
    }
    var hosted = document.getElementById("hosted");
    if (hosted) hostedSignIn(hosted);
  }

  // Cognito managed login: authorization code with PKCE, public client, back to /console/sign-in?code=...
  function hostedSignIn(box) {
    var base = box.dataset.loginUrl, client = box.dataset.clientId;
    var redirect = location.origin + SIGN_IN;
    var params = new URLSearchParams(location.search);
    if (params.get("code")) {
      var verifier = sessionStorage.getItem("relasi.pkce");
      var body = new URLSearchParams({grant_type: "authorization_code", client_id: client, code: params.get("code"),
                                      redirect_uri: redirect, code_verifier: verifier || ""});
      fetch(base + "/oauth2/token", {method: "POST", body: body,
                                     headers: {"Content-Type": "application/x-www-form-urlencoded"}})
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (t) {
          sessionStorage.setItem(KEY, t.id_token);
          sessionStorage.removeItem("relasi.pkce");
          var next = sessionStorage.getItem("relasi.next") || HOME;
          sessionStorage.removeItem("relasi.next");
          location.assign(onConsole(next) ? next : HOME);
        });
      return;
    }
    document.getElementById("hosted-sign-in").addEventListener("click", function () {
      var bytes = crypto.getRandomValues(new Uint8Array(32));
      var verifier = btoa(String.fromCharCode.apply(null, bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
      sessionStorage.setItem("relasi.pkce", verifier);
      sessionStorage.setItem("relasi.next", safeNext());
      crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)).then(function (digest) {
        var challenge = btoa(String.fromCharCode.apply(null, new Uint8Array(digest)))
          .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
        location.assign(base + "/oauth2/authorize?" + new URLSearchParams({
          response_type: "code", client_id: client, redirect_uri: redirect, scope: "openid email profile",
          code_challenge_method: "S256", code_challenge: challenge}));
      });
    });
  }

  // --- SLA countdowns: green, amber once half the window is gone, red when the deadline has passed ---
  function duration(ms) {
    var minutes = Math.floor(Math.abs(ms) / 60000), hours = Math.floor(minutes / 60), days = Math.floor(hours / 24);
    if (days) return days + "d " + (hours % 24) + "h";
    if (hours) return hours + "h " + (minutes % 60) + "m";
    return minutes + "m " + Math.floor(Math.abs(ms) / 1000) % 60 + "s";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll(".sla[data-deadline]").forEach(function (el) {
      var deadline = Date.parse(el.dataset.deadline), start = Date.parse(el.dataset.windowStart || el.dataset.deadline);
      var scale = parseFloat(el.dataset.scale || "1");  // the local stack's RELASI_TIME_SCALE (1 in the cloud)
      var at = now > start ? start + (now - start) * scale : now;
      var left = (deadline - at) / scale;
      var state = left <= 0 ? "red" : (at >= start + (deadline - start) / 2 ? "amber" : "green");
      if (el.classList.contains("sla-red")) state = "red";  // breached stays breached (the server knows)
      el.classList.remove("sla-green", "sla-amber", "sla-red");
      el.classList.add("sla-" + state);
      el.textContent = left > 0 ? duration(left) + " " + el.dataset.left : duration(left) + " " + el.dataset.late;
      var row = el.closest("tr");
      if (row) { row.classList.remove("row-green", "row-amber", "row-red"); row.classList.add("row-" + state); }
    });
  }

  // Registered as the script runs (before htmx's own load-time requests, which start on DOMContentLoaded).
  function consolePage() {
    if (!token()) { toSignIn(!!sessionStorage.getItem("relasi.seen")); return; }
    sessionStorage.setItem("relasi.seen", "1");
    document.addEventListener("htmx:configRequest", function (event) {
      var current = token();
      if (!current) { event.preventDefault(); toSignIn(true); return; }
      event.detail.headers["Authorization"] = "Bearer " + current;
    });
    document.addEventListener("htmx:beforeRequest", function (event) {
      var flash = document.getElementById("flash");
      if (flash && event.detail.requestConfig && event.detail.requestConfig.verb !== "get") flash.innerHTML = "";
    });
    document.addEventListener("htmx:responseError", function (event) {
      if (event.detail.xhr.status === 401) toSignIn(true);
    });
    document.addEventListener("htmx:afterRequest", function (event) {
      var form = event.detail.elt;
      if (event.detail.successful && form && form.matches && form.matches("form[data-reset-on-success]")) form.reset();
    });
    document.addEventListener("click", function (event) {
      if (event.target.id === "sign-out") { sessionStorage.clear(); location.assign(SIGN_IN); }
    });
    document.addEventListener("htmx:afterSettle", tick);
    setInterval(tick, 1000);
  }

  document.addEventListener("click", function (event) {
    var lang = event.target.dataset && event.target.dataset.lang;
    if (lang) { document.cookie = "relasi_lang=" + lang + "; path=" + HOME + "; SameSite=Strict"; location.reload(); }
  });

  if (location.pathname === SIGN_IN) document.addEventListener("DOMContentLoaded", signInPage);
  else consolePage();
})();
