/*
 * svgchart.h - small inline SVG charts for server-rendered pages: vertical
 * bars (one group per label, one bar per series), lines (one per series)
 * and horizontal bars (a funnel). Pure functions: data in, markup out.
 *
 * The output is one <svg class="chart" viewBox=... role="img"
 * aria-label=TITLE> element with a <title>, axis labels, the values and a
 * legend; every text from data (title, labels, series names) goes through
 * html_escape() (html.h), so it is also well-formed XML. No script, no
 * style element: colours are presentation attributes, which a strict
 * Content-Security-Policy allows.
 */
#ifndef CRMGATE_SVGCHART_H
#define CRMGATE_SVGCHART_H

#include <glib.h>

typedef enum {
    SVGCHART_BAR,  /* vertical bars, grouped when there are several series */
    SVGCHART_LINE, /* a line per series */
    SVGCHART_HBAR, /* horizontal bars: labels down the left side */
} svgchart_kind;

/* One series: a name for the legend and one value per label. */
typedef struct {
    const char *name;
    const double *values;
} svgchart_series;

/* At most this many labels and series are drawn; more are cut off and
   the chart says so in its caption text. */
#define SVGCHART_MAX_LABELS 200
#define SVGCHART_MAX_SERIES 8

/* Appends a chart of n_labels labels and n_series series to out. Empty
   data gives a chart that says "No data". Values may be zero or negative
   (bars grow from the zero line); NaN and infinities count as zero. */
void svgchart_render(GString *out, svgchart_kind kind, const char *title,
                     const char *const *labels, gsize n_labels,
                     const svgchart_series *series, gsize n_series);

#endif
