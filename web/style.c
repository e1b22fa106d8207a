/*
 * style.c - the one stylesheet, compiled in (GET /static/style.css).
 * Small, readable on a phone, no web fonts, no script.
 */
#include "web.h"

static const char css[] =
    ":root{--fg:#1d2330;--muted:#5b6475;--line:#d9dee7;--accent:#2457c5;"
    "--bad:#b3261e;--bg:#fff;--soft:#f4f6fa}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;font:15px/1.45 system-ui,-apple-system,'Segoe UI',"
    "Roboto,sans-serif;color:var(--fg);background:var(--bg)}\n"
    "nav{display:flex;flex-wrap:wrap;gap:.6em;align-items:center;"
    "padding:.5em 1em;border-bottom:1px solid var(--line);"
    "background:var(--soft)}\n"
    "nav a{color:var(--fg);text-decoration:none}nav a.brand{font-weight:700}\n"
    "nav .who{margin-left:auto;color:var(--muted)}\n"
    "nav form{display:inline;margin:0}\n"
    "main{max-width:72em;margin:0 auto;padding:1em}\n"
    "h1{font-size:1.4em;margin:.2em 0 .6em}h2{font-size:1.15em;"
    "margin:1.2em 0 .4em}\n"
    "a{color:var(--accent)}\n"
    "table{border-collapse:collapse;width:100%;margin:.4em 0 1em}\n"
    "th,td{text-align:left;padding:.35em .5em;border-bottom:1px solid "
    "var(--line);vertical-align:top}\n"
    "th{font-weight:600;color:var(--muted)}td.num,th.num{text-align:right;"
    "font-variant-numeric:tabular-nums}\n"
    ".overdue{color:var(--bad);font-weight:600}\n"
    ".error{color:var(--bad)}.muted{color:var(--muted)}\n"
    "form.login{display:grid;gap:.7em;max-width:22em}\n"
    "label{display:grid;gap:.2em}\n"
    "input,select,textarea,button{font:inherit;padding:.35em .5em;"
    "border:1px solid var(--line);border-radius:4px}\n"
    "button{background:var(--accent);color:#fff;border-color:var(--accent);"
    "cursor:pointer}\n"
    "nav button{background:none;color:var(--accent);border:none;padding:0}\n"
    ".card{border:1px solid var(--line);border-radius:6px;padding:.6em .8em;"
    "margin:.5em 0}\n"
    ".thread{border-left:3px solid var(--line);padding-left:.8em;"
    "margin:.8em 0}\n"
    "pre.body{white-space:pre-wrap;word-wrap:break-word;background:"
    "var(--soft);padding:.8em;border-radius:4px}\n"
    "dl.fields{display:grid;grid-template-columns:max-content 1fr;"
    "gap:.2em 1em}dl.fields dt{color:var(--muted)}dl.fields dd{margin:0;"
    "min-width:0;overflow-wrap:anywhere}\n"
    "td{overflow-wrap:anywhere}.mail-text{white-space:pre-wrap;"
    "overflow-wrap:anywhere}\n"
    "svg.chart{max-width:100%;height:auto}\n"
    "iframe.mail{width:100%;min-height:24em;border:1px solid var(--line)}\n"
    /* campaign progress bar: widths in 5 % steps, no script */
    ".progress{height:.9em;background:var(--soft);border:1px solid "
    "var(--line);border-radius:4px;overflow:hidden;max-width:40em}\n"
    ".progress .bar{display:block;height:100%;background:var(--accent)}\n"
    ".w0{width:0}.w5{width:5%}.w10{width:10%}.w15{width:15%}.w20{width:20%}"
    ".w25{width:25%}.w30{width:30%}.w35{width:35%}.w40{width:40%}"
    ".w45{width:45%}.w50{width:50%}.w55{width:55%}.w60{width:60%}"
    ".w65{width:65%}.w70{width:70%}.w75{width:75%}.w80{width:80%}"
    ".w85{width:85%}.w90{width:90%}.w95{width:95%}.w100{width:100%}\n"
    "div.actions form{display:inline}\n"
    "@media (max-width:600px){nav .who{margin-left:0}table{font-size:.9em}"
    "th,td{padding:.3em}}\n";

void web_style(web_req *req, web_resp *resp)
{
    (void)req;
    resp->ctype = "text/css; charset=utf-8";
    g_string_append_len(resp->body, css, sizeof(css) - 1);
    web_header(resp, "Cache-Control", "max-age=3600");
}
