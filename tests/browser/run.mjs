// tests/browser/run.mjs - crmgate-web in a real browser: Debian's headless
// Chromium (/usr/bin/chromium) driven by playwright-core (no downloaded
// browser). Run by tests/web/t90_browser.sh, which prepares the records and
// the captured mail and passes them in the environment:
//
//   BASE_URL      the test stack's web, e.g. http://127.0.0.1:18580
//   WEB_EMAIL, WEB_PASSWORD      the user who logs in (a manager)
//   TASK_ID, TASK_TITLE          b: an open task of that user
//   DEAL_ID, DEAL_MSG_ID, DEAL_MSG_TEXT   c: a deal, a message linked to it
//                                (messages.id) and a text its body holds
//   XSS_MSG_IDS, XSS_MSG_TEXT    e: hostile captured messages (ids, comma
//                                separated) and a harmless text they hold
//   CALL_CONTACT_ID, CALL_ID     f: a contact of that user with a phone and
//                                a call on its timeline (calls.id); the
//                                user has an extension
//   SCREENS       where screenshots go (var/test/screens)
//
// Prints one TAP line per check ("ok - ..." / "not ok - ..."); a page that
// does not exist yet fails its checks (never skipped). Lines starting with
// "# " are diagnostics; "# completed-task ID" tells the shell which task to
// look up in PostgreSQL. Exit status 0 unless the browser itself could not
// run (then one "not ok" line says so).
import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const env = process.env;
const BASE = env.BASE_URL || 'http://127.0.0.1:18080';
const SCREENS = env.SCREENS || 'var/test/screens';
const TIMEOUT = 8000; // per action: a missing element fails in 8 s
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };

let failures = 0;
function ok(name) {
    console.log(`ok - ${name}`);
}
function notOk(name, why) {
    failures++;
    console.log(`not ok - ${name}`);
    if (why) console.log(`# ${String(why).split('\n')[0].slice(0, 300)}`);
}
function check(name, cond, why) {
    if (cond) ok(name);
    else notOk(name, why);
}
// failAll: prints every name as "not ok" with the reason (a page that is
// missing fails each check it would have made).
function failAll(names, why) {
    for (const n of names) notOk(n, why);
}

async function shot(page, name) {
    try {
        await page.setViewportSize(DESKTOP);
        await page.screenshot({ path: join(SCREENS, `${name}.png`), fullPage: true });
        await page.setViewportSize(PHONE);
        await page.screenshot({ path: join(SCREENS, `${name}-phone.png`), fullPage: true });
        await page.setViewportSize(DESKTOP);
    } catch (e) {
        console.log(`# screenshot ${name} failed: ${e.message.split('\n')[0]}`);
    }
}

// Why the page scrolls sideways on a phone ('' when it does not): the
// document's width and the first elements sticking out.
async function phoneOverflow(page) {
    await page.setViewportSize(PHONE);
    const why = await page.evaluate((w) => {
        const sw = document.documentElement.scrollWidth;
        if (sw <= w + 1) return '';
        const out = [...document.querySelectorAll('body *')]
            .filter((e) => e.getBoundingClientRect().right > w + 1)
            .slice(-3).map((e) => `<${e.tagName.toLowerCase()} class="${e.className}">` +
                e.textContent.trim().slice(0, 40));
        return `${sw}px wide; sticking out: ${out.join(' | ')}`;
    }, PHONE.width);
    await page.setViewportSize(DESKTOP);
    return why;
}

// [passes, why] for check(): no sideways scrolling on a phone.
async function phoneCheck(page) {
    const why = await phoneOverflow(page);
    return [!why, why];
}

async function goto(page, path) {
    const resp = await page.goto(BASE + path, { waitUntil: 'load', timeout: TIMEOUT });
    return resp ? resp.status() : 0;
}

// The text a reader sees, without form controls (a stage <select> lists
// "done" as an option on every task page).
async function shownText(page) {
    return page.evaluate(() => {
        const skip = 'select, option, textarea, button, script, style';
        const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        const parts = [];
        for (let n = walk.nextNode(); n; n = walk.nextNode())
            if (!n.parentElement.closest(skip)) parts.push(n.nodeValue);
        return parts.join(' ').replace(/\s+/g, ' ');
    });
}

// a. Log in through the form and land on /tasks.
async function scenarioLogin(ctx) {
    const page = await ctx.newPage();
    let status = await goto(page, '/login?next=%2Ftasks');
    check('a: /login shows the form (200)', status === 200, `HTTP ${status}`);
    await shot(page, 'a1-login');
    check('a: the login form is usable on a phone (no sideways scroll)', ...(await phoneCheck(page)));
    // a wrong password first: the form comes back, no session
    await page.fill('input[name="email"]', env.WEB_EMAIL);
    await page.fill('input[name="password"]', 'wrong-' + env.WEB_PASSWORD);
    let nav = page.waitForNavigation({ timeout: TIMEOUT });
    await page.click('form.login button[type="submit"]');
    const bad = await nav;
    const badStatus = bad ? bad.status() : 0;
    const cookies0 = await ctx.cookies(BASE);
    check('a: a wrong password answers 401 with the form again and no session',
        badStatus === 401 && (await page.locator('input[name="password"]').count()) === 1 &&
        !cookies0.some((c) => c.name === 'crmgate_session'), `HTTP ${badStatus}`);
    // now the right one
    await page.fill('input[name="email"]', env.WEB_EMAIL);
    await page.fill('input[name="password"]', env.WEB_PASSWORD);
    nav = page.waitForURL((u) => !u.pathname.startsWith('/login'), { timeout: TIMEOUT })
        .then(() => true, () => false);
    await page.click('form.login button[type="submit"]');
    const left = await nav;
    const url = new URL(page.url());
    check('a: after logging in the browser lands on /tasks',
        left && url.pathname === '/tasks', `at ${page.url()}`);
    const cookies = await ctx.cookies(BASE);
    const sess = cookies.find((c) => c.name === 'crmgate_session');
    check('a: the session cookie is set, HttpOnly and SameSite=Lax',
        sess && sess.httpOnly && sess.sameSite === 'Lax' && /^[A-Za-z0-9_-]{43}$/.test(sess.value),
        JSON.stringify(sess));
    check('a: the page after login is not the login form',
        (await page.locator('input[name="password"]').count()) === 0);
    await shot(page, 'a2-after-login');
    await page.close();
}

// b. Open /tasks, follow the task's link, click Complete, see "done".
async function scenarioTask(ctx) {
    const names = ['b: /tasks lists the task in <tr data-task-id> with its link',
        'b: the task title is shown as text (markup in it escaped)',
        'b: the task page has the Complete form and button',
        'b: clicking Complete shows the stage done',
        'b: /tasks is usable on a phone (no sideways scroll)'];
    const id = env.TASK_ID;
    if (!id) return failAll(names, 'no task was created (TASK_ID empty)');
    const page = await ctx.newPage();
    try {
        const status = await goto(page, '/tasks');
        await shot(page, 'b1-tasks');
        if (status !== 200) return failAll(names, `/tasks answered HTTP ${status}`);
        const link = page.locator(`tr[data-task-id="${id}"] a[href="/tasks/${id}"]`).first();
        if ((await link.count()) === 0)
            return failAll(names, `no tr[data-task-id="${id}"] a[href="/tasks/${id}"] on /tasks`);
        ok(names[0]);
        const row = await page.locator(`tr[data-task-id="${id}"]`).first().innerText();
        check(names[1], row.includes(env.TASK_TITLE || '\u0000'), `row text: ${row}`);
        check(names[4], ...(await phoneCheck(page)));
        await Promise.all([page.waitForURL(`**/tasks/${id}`, { timeout: TIMEOUT }), link.click()]);
        await shot(page, 'b2-task');
        const button = page.locator(`form[method="post"][action="/tasks/${id}/complete"] button`,
            { hasText: 'Complete' }).first();
        if ((await button.count()) === 0)
            return failAll(names.slice(2, 4), `no Complete form on /tasks/${id}`);
        ok(names[2]);
        const before = await shownText(page);
        const nav = page.waitForNavigation({ timeout: TIMEOUT });
        await button.click();
        const resp = await nav;
        await shot(page, 'b3-task-done');
        const text = await shownText(page);
        check(names[3], resp && resp.status() === 200 && !/\bdone\b/i.test(before) &&
            /\bdone\b/i.test(text), `HTTP ${resp ? resp.status() : 0} at ${page.url()}: ${text.slice(0, 300)}`);
        console.log(`# completed-task ${id}`);
    } catch (e) {
        notOk('b: the task scenario ran to its end', e.message);
    } finally {
        await page.close();
    }
}

// c. A deal page's timeline links a captured message; its text shows.
async function scenarioDeal(ctx) {
    const names = ['c: /deals/ID has section#timeline linking the captured message',
        'c: the message page shows its text in div.mail-text',
        'c: the deal page is usable on a phone (no sideways scroll)',
        'c: the message page is usable on a phone (no sideways scroll)'];
    const deal = env.DEAL_ID, msg = env.DEAL_MSG_ID;
    if (!deal || !msg) return failAll(names, 'no deal or no captured message (setup failed)');
    const page = await ctx.newPage();
    try {
        const status = await goto(page, `/deals/${deal}`);
        await shot(page, 'c1-deal');
        if (status !== 200) return failAll(names, `/deals/${deal} answered HTTP ${status}`);
        const link = page.locator(`section#timeline a[href="/messages/${msg}"]`).first();
        if ((await link.count()) === 0)
            return failAll(names, `no section#timeline a[href="/messages/${msg}"]`);
        ok(names[0]);
        check(names[2], ...(await phoneCheck(page)));
        await Promise.all([page.waitForURL(`**/messages/${msg}`, { timeout: TIMEOUT }), link.click()]);
        await shot(page, 'c2-message');
        const body = page.locator('div.mail-text').first();
        const text = (await body.count()) ? await body.innerText() : '';
        check(names[1], text.includes(env.DEAL_MSG_TEXT || '\u0000'), `mail-text: ${text.slice(0, 200)}`);
        check(names[3], ...(await phoneCheck(page)));
    } catch (e) {
        notOk('c: the deal scenario ran to its end', e.message);
    } finally {
        await page.close();
    }
}

// d. The funnel report draws an inline SVG chart with bars, and links CSV.
async function scenarioReport(ctx) {
    const names = ['d: /reports/funnel has an inline svg.chart with at least one bar',
        'd: the report links its CSV (?format=csv)',
        'd: the report is usable on a phone (no sideways scroll)'];
    const page = await ctx.newPage();
    try {
        const status = await goto(page, '/reports/funnel');
        await shot(page, 'd1-report');
        if (status !== 200) return failAll(names, `/reports/funnel answered HTTP ${status}`);
        const bars = await page.locator('svg.chart rect').count();
        check(names[0], bars >= 1, `${bars} rect in svg.chart`);
        check(names[1], (await page.locator('a[href*="format=csv"]').count()) >= 1);
        check(names[2], ...(await phoneCheck(page)));
    } catch (e) {
        notOk('d: the report scenario ran to its end', e.message);
    } finally {
        await page.close();
    }
}

// e. Hostile captured mail: nothing from it runs or becomes markup.
async function scenarioHostile(ctx) {
    const ids = (env.XSS_MSG_IDS || '').split(',').filter(Boolean);
    const base = ['shows its text in div.mail-text', 'raises no dialog',
        'sets no marker (window.__pwned, document.title)', 'logs nothing to the console',
        'has no script or iframe element', 'has no javascript: link',
        'has no element with an on* handler attribute', 'loads nothing from elsewhere'];
    if (ids.length === 0)
        return failAll(base.map((b) => `e: hostile message ${b}`), 'no hostile message was captured');
    for (const id of ids) {
        const names = base.map((b) => `e: hostile message ${id} ${b}`);
        const page = await ctx.newPage();
        const dialogs = [], consoleMsgs = [], foreign = [];
        page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
        // The page's own inline-style reports (CSP) are not the mail's doing.
        page.on('console', (m) => {
            if (!/Refused to apply inline style/.test(m.text()))
                consoleMsgs.push(`${m.type()}: ${m.text()}`);
        });
        page.on('pageerror', (e) => consoleMsgs.push(`pageerror: ${e.message}`));
        page.on('request', (r) => { if (!r.url().startsWith(BASE + '/')) foreign.push(r.url()); });
        try {
            const status = await goto(page, `/messages/${id}`);
            await page.waitForTimeout(1000); // let any timer or handler fire
            await shot(page, `e-hostile-${id}`);
            if (status !== 200) { failAll(names, `/messages/${id} answered HTTP ${status}`); continue; }
            const box = page.locator('div.mail-text').first();
            const text = (await box.count()) ? await box.innerText() : '';
            if (!text.includes(env.XSS_MSG_TEXT || '\u0000')) {
                failAll(names, `div.mail-text missing or without the text: ${text.slice(0, 200)}`);
                continue;
            }
            ok(names[0]);
            check(names[1], dialogs.length === 0, dialogs.join(' | '));
            const marks = await page.evaluate(() => ({
                pwned: typeof window.__pwned, title: document.title,
                stored: (() => { try { return localStorage.getItem('pwned'); } catch { return null; } })(),
            }));
            check(names[2], marks.pwned === 'undefined' && !/pwned/i.test(marks.title) && !marks.stored,
                JSON.stringify(marks));
            check(names[3], consoleMsgs.length === 0, consoleMsgs.join(' | '));
            const dom = await page.evaluate(() => ({
                scripts: document.querySelectorAll('script').length,
                iframes: document.querySelectorAll('iframe, frame, object, embed').length,
                jslinks: [...document.querySelectorAll('[href], [src], [action], [formaction]')]
                    .filter((e) => ['href', 'src', 'action', 'formaction'].some((a) =>
                        /^\s*javascript:/i.test(e.getAttribute(a) || ''))).length,
                handlers: [...document.querySelectorAll('*')]
                    .filter((e) => [...e.attributes].some((a) => /^on/i.test(a.name))).length,
                refresh: document.querySelectorAll('meta[http-equiv]').length,
            }));
            check(names[4], dom.scripts === 0 && dom.iframes === 0, JSON.stringify(dom));
            check(names[5], dom.jslinks === 0 && dom.refresh === 0, JSON.stringify(dom));
            check(names[6], dom.handlers === 0, JSON.stringify(dom));
            check(names[7], foreign.length === 0, foreign.join(' '));
        } catch (e) {
            notOk(`e: the hostile message ${id} scenario ran to its end`, e.message);
        } finally {
            await page.close();
        }
    }
}

// f. A contact's page shows its call and the Call button; a click queues
// a click-to-call request, shown on the page it returns to.
async function scenarioCall(ctx) {
    const names = ['f: /contacts/ID shows the call on its timeline (li.call)',
        'f: the contact page has the Call button',
        'f: clicking Call comes back to the page with the request listed',
        'f: the contact page is usable on a phone (no sideways scroll)'];
    const contact = env.CALL_CONTACT_ID, call = env.CALL_ID;
    if (!contact || !call) return failAll(names, 'no contact or no call (setup failed)');
    const page = await ctx.newPage();
    try {
        const status = await goto(page, `/contacts/${contact}`);
        await shot(page, 'f1-contact-call');
        if (status !== 200) return failAll(names, `/contacts/${contact} answered HTTP ${status}`);
        const item = page.locator(`section#timeline li.call[data-call-id="${call}"]`).first();
        check(names[0], (await item.count()) === 1 && (await item.isVisible()),
            `no visible li.call[data-call-id="${call}"]`);
        const button = page.locator('section#click-to-call form.call button').first();
        const label = (await button.count()) ? (await button.innerText()).trim() : '';
        check(names[1], label === 'Call', `button: "${label}"`);
        check(names[3], ...(await phoneCheck(page)));
        if (label !== 'Call') return notOk(names[2], 'no button to click');
        await Promise.all([page.waitForURL(/\?called=\d+$/, { timeout: TIMEOUT }), button.click()]);
        const called = new URL(page.url()).searchParams.get('called');
        const listed = await page.locator(`ul.call-requests li[data-request-id="${called}"]`).count();
        check(names[2], listed === 1, `url ${page.url()}, ${listed} listed`);
        console.log(`# call-request ${called}`);
        await shot(page, 'f2-call-requested');
    } catch (e) {
        notOk('f: the call scenario ran to its end', e.message);
    } finally {
        await page.close();
    }
}

async function main() {
    mkdirSync(SCREENS, { recursive: true });
    const profile = mkdtempSync(join(tmpdir(), 'crmgate-chromium-'));
    let ctx;
    try {
        ctx = await chromium.launchPersistentContext(profile, {
            executablePath: env.CHROMIUM || '/usr/bin/chromium',
            headless: true,
            viewport: DESKTOP,
            timeout: 60000,
            args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
                '--no-first-run', '--disable-background-networking',
                '--disable-component-update', '--disable-sync'],
        });
    } catch (e) {
        notOk('browser: headless Chromium starts', e.message);
        rmSync(profile, { recursive: true, force: true });
        return;
    }
    ok('browser: headless Chromium starts');
    ctx.setDefaultTimeout(TIMEOUT);
    // Nothing leaves the test stack: any other address is refused here
    // (the hostile scenario counts such requests as a failure).
    await ctx.route('**/*', (route) =>
        route.request().url().startsWith(BASE + '/') ? route.continue() : route.abort());
    const scenarios = [['a', scenarioLogin], ['b', scenarioTask], ['c', scenarioDeal],
        ['d', scenarioReport], ['e', scenarioHostile], ['f', scenarioCall]];
    for (const [name, fn] of scenarios) {
        try {
            await fn(ctx);
        } catch (e) {
            notOk(`${name}: the scenario ran to its end`, e.message);
        }
    }
    await ctx.close();
    rmSync(profile, { recursive: true, force: true });
    console.log(`# browser: ${failures} failed check(s)`);
}

main().catch((e) => {
    notOk('browser: the run ended without an exception', e.stack || e.message);
});
