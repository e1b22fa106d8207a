/*
 * svgchart.c - inline SVG bar, line and horizontal-bar charts for the
 * report pages (svgchart.h). Every text from data goes through html.h's
 * escaping; numbers are written with g_ascii_formatd, so the output does
 * not depend on the locale. Bounded: SVGCHART_MAX_LABELS labels and
 * SVGCHART_MAX_SERIES series are drawn, label texts are cut to
 * LABEL_CHARS characters (the full text stays in a <title> tooltip).
 */
#include "crmgate/svgchart.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "crmgate/html.h"

#define WIDTH 720.0
#define HEIGHT 360.0
#define LEFT 64.0
#define RIGHT 16.0
#define TOP 48.0
#define BOTTOM 80.0
#define HBAR_LEFT 170.0
#define HBAR_ROW 26.0
#define LABEL_CHARS 24

static const char *const palette[SVGCHART_MAX_SERIES] = {
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759",
    "#76b7b2", "#edc948", "#b07aa1", "#9c755f"};

/* A coordinate with one decimal, locale-free. */
static const char *coord(char buf[G_ASCII_DTOSTR_BUF_SIZE], double v)
{
    return g_ascii_formatd(buf, G_ASCII_DTOSTR_BUF_SIZE, "%.1f", v);
}

/* A value as people read it: rounded to two decimals, no trailing zeros. */
static const char *value_text(char buf[G_ASCII_DTOSTR_BUF_SIZE], double v)
{
    char two[G_ASCII_DTOSTR_BUF_SIZE];
    double r =
        g_ascii_strtod(g_ascii_formatd(two, sizeof two, "%.2f", v), NULL);
    if (r == 0)
        r = 0; /* no "-0" */
    return g_ascii_formatd(buf, G_ASCII_DTOSTR_BUF_SIZE, "%.15g", r);
}

static double clean(double v)
{
    return isfinite(v) ? v : 0.0;
}

/* label cut to LABEL_CHARS characters (with an ellipsis), newly allocated. */
static char *short_label(const char *label)
{
    const char *s = label ? label : "";
    if (!g_utf8_validate(s, -1, NULL) || g_utf8_strlen(s, -1) <= LABEL_CHARS)
        return g_strdup(s);
    g_autofree char *cut = g_utf8_substring(s, 0, LABEL_CHARS - 1);
    return g_strconcat(cut, "\xe2\x80\xa6", NULL);
}

/* <text> at x, y with an anchor and optional extra attributes (trusted). */
static void text_at(GString *out, double x, double y, const char *anchor,
                    const char *extra, const char *s)
{
    char bx[G_ASCII_DTOSTR_BUF_SIZE], by[G_ASCII_DTOSTR_BUF_SIZE];
    html_printf(out, "<text x=\"%s\" y=\"%s\" text-anchor=\"%s\"", coord(bx, x),
                coord(by, y), anchor);
    if (extra)
        g_string_append(out, extra);
    html_printf(out, ">%s</text>\n", s);
}

static void rect(GString *out, double x, double y, double w, double h,
                 const char *fill, const char *tip)
{
    char bx[G_ASCII_DTOSTR_BUF_SIZE], by[G_ASCII_DTOSTR_BUF_SIZE];
    char bw[G_ASCII_DTOSTR_BUF_SIZE], bh[G_ASCII_DTOSTR_BUF_SIZE];
    html_printf(out,
                "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" "
                "fill=\"%s\">",
                coord(bx, x), coord(by, y), coord(bw, w), coord(bh, h), fill);
    if (tip)
        html_printf(out, "<title>%s</title>", tip);
    g_string_append(out, "</rect>\n");
}

static void line(GString *out, double x1, double y1, double x2, double y2,
                 const char *stroke)
{
    char a[G_ASCII_DTOSTR_BUF_SIZE], b[G_ASCII_DTOSTR_BUF_SIZE];
    char c[G_ASCII_DTOSTR_BUF_SIZE], d[G_ASCII_DTOSTR_BUF_SIZE];
    html_printf(out,
                "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" "
                "stroke=\"%s\"/>\n",
                coord(a, x1), coord(b, y1), coord(c, x2), coord(d, y2), stroke);
}

/* The legend: a swatch and the name of each series, left to right. */
static void legend(GString *out, const svgchart_series *series, gsize ns,
                   double left)
{
    double x = left;
    for (gsize s = 0; s < ns; s++) {
        g_autofree char *name = short_label(series[s].name);
        rect(out, x, 26, 10, 10, palette[s], NULL);
        text_at(out, x + 14, 35, "start", NULL, name);
        x += 24 + 7.0 * (double)g_utf8_strlen(name, -1);
    }
}

/* The lowest and highest value drawn, zero always included. */
static void range(const svgchart_series *series, gsize ns, gsize n,
                  double *lo_r, double *hi_r)
{
    double lo = 0, hi = 0;
    for (gsize s = 0; s < ns; s++)
        for (gsize i = 0; i < n; i++) {
            double v = series[s].values ? clean(series[s].values[i]) : 0;
            lo = MIN(lo, v);
            hi = MAX(hi, v);
        }
    if (hi - lo < 1e-9)
        hi = lo + 1;
    *lo_r = lo;
    *hi_r = hi;
}

static double value_of(const svgchart_series *s, gsize i)
{
    return s->values ? clean(s->values[i]) : 0;
}

/* Vertical bars and lines share the axes. */
static void render_xy(GString *out, svgchart_kind kind,
                      const char *const *labels, gsize n,
                      const svgchart_series *series, gsize ns)
{
    const double x0 = LEFT, x1 = WIDTH - RIGHT;
    const double y0 = TOP, y1 = HEIGHT - BOTTOM;
    double lo, hi;
    range(series, ns, n, &lo, &hi);
#define Y(v) (y1 - ((v)-lo) / (hi - lo) * (y1 - y0))
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    /* y axis: five ticks from lo to hi */
    for (int t = 0; t <= 4; t++) {
        double v = lo + (hi - lo) * t / 4.0;
        line(out, x0, Y(v), x1, Y(v), "#e0e0e0");
        text_at(out, x0 - 6, Y(v) + 4, "end", NULL, value_text(buf, v));
    }
    line(out, x0, y0, x0, y1, "#888");
    line(out, x0, Y(0), x1, Y(0), "#888");
    double gw = (x1 - x0) / (double)n;
    gsize every = (n + 29) / 30;
    bool tilt = n > 8;
    bool values = (kind == SVGCHART_BAR ? n * ns : n) <= 36;
    for (gsize i = 0; i < n; i++) {
        if (i % every)
            continue;
        g_autofree char *l = short_label(labels[i]);
        double cx = x0 + gw * ((double)i + 0.5);
        char bx[G_ASCII_DTOSTR_BUF_SIZE], by[G_ASCII_DTOSTR_BUF_SIZE];
        g_autofree char *rot =
            tilt ? g_strdup_printf(" transform=\"rotate(-40 %s %s)\"",
                                   coord(bx, cx), coord(by, y1 + 14))
                 : NULL;
        text_at(out, cx, y1 + 14, tilt ? "end" : "middle", rot, l);
    }
    if (kind == SVGCHART_BAR) {
        double bw = gw * 0.8 / (double)ns;
        for (gsize s = 0; s < ns; s++)
            for (gsize i = 0; i < n; i++) {
                double v = value_of(&series[s], i);
                double x = x0 + gw * (double)i + gw * 0.1 + bw * (double)s;
                double top = Y(MAX(v, 0)), bottom = Y(MIN(v, 0));
                g_autofree char *tip = g_strdup_printf(
                    "%s, %s: %s", labels[i] ? labels[i] : "",
                    series[s].name ? series[s].name : "", value_text(buf, v));
                rect(out, x, top, MAX(bw - 1, 1), MAX(bottom - top, 0.5),
                     palette[s], tip);
                if (values)
                    text_at(out, x + bw / 2, v < 0 ? bottom + 11 : top - 3,
                            "middle", " font-size=\"10\"", value_text(buf, v));
            }
    } else {
        for (gsize s = 0; s < ns; s++) {
            GString *pts = g_string_new(NULL);
            for (gsize i = 0; i < n; i++) {
                char bx[G_ASCII_DTOSTR_BUF_SIZE], by[G_ASCII_DTOSTR_BUF_SIZE];
                double v = value_of(&series[s], i);
                g_string_append_printf(pts, "%s%s,%s", i ? " " : "",
                                       coord(bx, x0 + gw * ((double)i + 0.5)),
                                       coord(by, Y(v)));
            }
            html_printf(out,
                        "<polyline fill=\"none\" stroke=\"%s\" "
                        "stroke-width=\"2\" points=\"%s\"/>\n",
                        palette[s], pts->str);
            g_string_free(pts, TRUE);
            for (gsize i = 0; i < n; i++) {
                char bx[G_ASCII_DTOSTR_BUF_SIZE], by[G_ASCII_DTOSTR_BUF_SIZE];
                double v = value_of(&series[s], i);
                double cx = x0 + gw * ((double)i + 0.5);
                html_printf(out,
                            "<circle cx=\"%s\" cy=\"%s\" r=\"3\" "
                            "fill=\"%s\"><title>%s: %s</title></circle>\n",
                            coord(bx, cx), coord(by, Y(v)), palette[s],
                            labels[i] ? labels[i] : "", value_text(buf, v));
                if (values)
                    text_at(out, cx, Y(v) - 6, "middle", " font-size=\"10\"",
                            value_text(buf, v));
            }
        }
    }
#undef Y
}

static void render_hbar(GString *out, const char *const *labels, gsize n,
                        const svgchart_series *series, gsize ns)
{
    const double x0 = HBAR_LEFT, x1 = WIDTH - RIGHT - 40;
    double lo, hi;
    range(series, ns, n, &lo, &hi);
#define X(v) (x0 + ((v)-lo) / (hi - lo) * (x1 - x0))
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    double bh = (HBAR_ROW - 6) / (double)ns;
    for (gsize i = 0; i < n; i++) {
        double y = TOP + HBAR_ROW * (double)i;
        g_autofree char *l = short_label(labels[i]);
        text_at(out, x0 - 6, y + HBAR_ROW / 2 + 4, "end", NULL, l);
        for (gsize s = 0; s < ns; s++) {
            double v = value_of(&series[s], i);
            double left = X(MIN(v, 0)), right = X(MAX(v, 0));
            double by = y + 3 + bh * (double)s;
            g_autofree char *tip = g_strdup_printf(
                "%s, %s: %s", labels[i] ? labels[i] : "",
                series[s].name ? series[s].name : "", value_text(buf, v));
            rect(out, left, by, MAX(right - left, 0.5), MAX(bh - 1, 1),
                 palette[s], tip);
            text_at(out, right + 4, by + bh / 2 + 4, "start",
                    " font-size=\"10\"", value_text(buf, v));
        }
    }
    line(out, X(0), TOP, X(0), TOP + HBAR_ROW * (double)n, "#888");
#undef X
}

void svgchart_render(GString *out, svgchart_kind kind, const char *title,
                     const char *const *labels, gsize n_labels,
                     const svgchart_series *series, gsize n_series)
{
    gsize n = MIN(n_labels, SVGCHART_MAX_LABELS);
    gsize ns = MIN(n_series, SVGCHART_MAX_SERIES);
    bool empty = n == 0 || ns == 0 || !labels || !series;
    double h = empty                   ? 90
               : kind == SVGCHART_HBAR ? TOP + HBAR_ROW * (double)n + 20
                                       : HEIGHT;
    char bh[G_ASCII_DTOSTR_BUF_SIZE];
    const char *t = title ? title : "";
    html_printf(out,
                "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" "
                "viewBox=\"0 0 720 %s\" role=\"img\" aria-label=\"%s\" "
                "font-family=\"sans-serif\" font-size=\"11\">\n"
                "<title>%s</title>\n",
                coord(bh, h), t, t);
    text_at(out, 4, 16, "start", " font-weight=\"bold\" font-size=\"13\"", t);
    if (empty) {
        text_at(out, 360, 60, "middle", NULL, "No data");
    } else {
        legend(out, series, ns, kind == SVGCHART_HBAR ? HBAR_LEFT : LEFT);
        if (kind == SVGCHART_HBAR)
            render_hbar(out, labels, n, series, ns);
        else
            render_xy(out, kind, labels, n, series, ns);
        if (n < n_labels || ns < n_series) {
            g_autofree char *note =
                g_strdup_printf("(the first %" G_GSIZE_FORMAT
                                " of %" G_GSIZE_FORMAT " points shown)",
                                n, n_labels);
            text_at(out, 716, 16, "end", NULL, note);
        }
    }
    g_string_append(out, "</svg>\n");
}
