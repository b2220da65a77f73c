/*
 * datasets/report.c — `envforge report`: one self-contained HTML file (inline CSS, JS
 * and SVG; no outside reference, so it opens offline and can be mailed) with the
 * statistics of stats.c as a table and charts drawn here as SVG (pass@k per env/level,
 * reward histograms, end reasons, tool error rates), and a trajectory viewer: a sample
 * of episodes embedded as JSON, listed with search and filters, each shown with its
 * messages, reasoning, tool calls and results, reward and verifier info. The viewer's
 * script is in report_assets.c.
 */
#include <math.h>
#include <string.h>
#include "common/json.h"
#include "datasets/export_int.h"

/* From report_assets.c. */
extern const char ef_report__css[];
extern const char ef_report__js[];

static const char *const palette[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
                                      "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
#define N_PALETTE 10

/* ---- small writers -------------------------------------------------------------------- */

static void html_esc(ef_jw *w, const char *s)
{
    if (!s)
        return;
    const char *run = s;
    for (; *s; s++) {
        const char *e = NULL;
        switch (*s) {
        case '<':
            e = "&lt;";
            break;
        case '>':
            e = "&gt;";
            break;
        case '&':
            e = "&amp;";
            break;
        case '"':
            e = "&quot;";
            break;
        default:
            break;
        }
        if (e) {
            ef_export__jw_raw(w, run, (size_t)(s - run));
            ef_export__jw_lit(w, e);
            run = s + 1;
        }
    }
    ef_export__jw_raw(w, run, (size_t)(s - run));
}

static void pf(ef_jw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pf(ef_jw *w, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0)
        ef_export__jw_raw(w, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* The opening tag of a chart's <svg>, width by height pixels. */
static void svg_open(ef_jw *w, const char *id, double width, double height)
{
    pf(w,
       "<svg id=\"%s\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" "
       "width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">",
       id, width, height, width, height);
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

static void group_label(const cJSON *g, char *buf, size_t cap)
{
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(g, "env");
    int level = (int)num(g, "level");
    if (level < 0)
        snprintf(buf, cap, "%s", cJSON_IsString(env) ? env->valuestring : "?");
    else
        snprintf(buf, cap, "%s/%d", cJSON_IsString(env) ? env->valuestring : "?", level);
}

/* ---- the summary table ------------------------------------------------------------------ */

static void cell_pct(ef_jw *w, double v)
{
    if (isnan(v))
        ef_export__jw_lit(w, "<td>–</td>");
    else
        pf(w, "<td>%.1f%%</td>", 100 * v);
}

static void table_row(ef_jw *w, const cJSON *g, const cJSON *ks, int total)
{
    char label[160];
    group_label(g, label, sizeof(label));
    ef_export__jw_lit(w, total ? "<tr class=\"total\"><td>" : "<tr><td>");
    html_esc(w, label);
    pf(w, "</td><td>%.0f</td><td>%.0f</td><td>%.0f</td>", num(g, "tasks"), num(g, "episodes"),
       num(g, "verified"));
    const cJSON *pk = cJSON_GetObjectItemCaseSensitive(g, "pass_at_k"), *k;
    cJSON_ArrayForEach(k, ks)
    {
        char key[16];
        snprintf(key, sizeof(key), "%d", k->valueint);
        cell_pct(w, num(pk, key));
    }
    const cJSON *turns = cJSON_GetObjectItemCaseSensitive(g, "turns");
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(g, "tokens");
    const cJSON *fl = cJSON_GetObjectItemCaseSensitive(g, "flakiness");
    pf(w, "<td>%.3f</td><td>%.1f</td><td>%.0f</td>", num(g, "mean_reward"), num(turns, "mean"),
       num(tok, "mean_completion"));
    cell_pct(w, num(g, "tool_error_rate"));
    pf(w, "<td>%.0f</td><td>%.3f</td></tr>\n", num(fl, "flaky_tasks"), num(fl, "mean"));
}

static void summary_table(ef_jw *w, const cJSON *stats)
{
    const cJSON *ks = cJSON_GetObjectItemCaseSensitive(stats, "ks"), *k, *g;
    ef_export__jw_lit(w, "<table id=\"summary-table\"><thead><tr><th>env/level</th><th>tasks</th>"
                         "<th>episodes</th><th>verified</th>");
    cJSON_ArrayForEach(k, ks) pf(w, "<th>pass@%d</th>", k->valueint);
    ef_export__jw_lit(w, "<th>mean reward</th><th>turns</th><th>tokens/ep</th><th>tool errors</th>"
                         "<th>flaky tasks</th><th>flakiness</th></tr></thead><tbody>\n");
    cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(stats, "groups")) table_row(w, g, ks, 0);
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(stats, "total");
    if (total)
        table_row(w, total, ks, 1);
    ef_export__jw_lit(w, "</tbody></table>\n");
}

/* ---- charts ---------------------------------------------------------------------------- */

static void legend(ef_jw *w, double x, double y, const char *const *names, int n)
{
    for (int i = 0; i < n; i++) {
        pf(w, "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%s\"/>", x,
           y + 14.0 * i, palette[i % N_PALETTE]);
        pf(w, "<text x=\"%.1f\" y=\"%.1f\" class=\"lg\">", x + 14, y + 14.0 * i + 9);
        html_esc(w, names[i]);
        ef_export__jw_lit(w, "</text>");
    }
}

/* Grouped bars of pass@k (one bar per k) for each env/level. */
static void chart_pass(ef_jw *w, const cJSON *stats)
{
    const cJSON *ks = cJSON_GetObjectItemCaseSensitive(stats, "ks");
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(stats, "groups");
    int n_g = cJSON_GetArraySize(groups), n_k = cJSON_GetArraySize(ks);
    if (n_g == 0 || n_k == 0) {
        ef_export__jw_lit(w, "<p class=\"empty\">no episodes</p>");
        return;
    }
    double left = 40, top = 10, plot_h = 180, slot = 18.0 * n_k + 16, plot_w = slot * n_g;
    double width = left + plot_w + 110, height = top + plot_h + 70;
    svg_open(w, "chart-pass", width, height);
    for (int t = 0; t <= 4; t++) {
        double y = top + plot_h * (1 - t / 4.0);
        pf(w, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>", left,
           left + plot_w, y, y);
        pf(w, "<text x=\"%.1f\" y=\"%.1f\" class=\"ax\" text-anchor=\"end\">%d%%</text>", left - 4,
           y + 4, 25 * t);
    }
    int gi = 0;
    const cJSON *g;
    cJSON_ArrayForEach(g, groups)
    {
        char label[160];
        group_label(g, label, sizeof(label));
        const cJSON *pk = cJSON_GetObjectItemCaseSensitive(g, "pass_at_k"), *k;
        int ki = 0;
        cJSON_ArrayForEach(k, ks)
        {
            char key[16];
            snprintf(key, sizeof(key), "%d", k->valueint);
            double v = num(pk, key);
            double h = isnan(v) ? 0 : plot_h * v;
            double x = left + slot * gi + 8 + 18.0 * ki;
            pf(w,
               "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"16\" height=\"%.1f\" "
               "fill=\"%s\"><title>",
               x, top + plot_h - h, h, palette[ki % N_PALETTE]);
            html_esc(w, label);
            if (isnan(v))
                pf(w, " pass@%s: no task with %s samples</title></rect>", key, key);
            else
                pf(w, " pass@%s = %.1f%%</title></rect>", key, 100 * v);
            ki++;
        }
        double cx = left + slot * gi + slot / 2;
        pf(w,
           "<text x=\"%.1f\" y=\"%.1f\" class=\"ax\" text-anchor=\"end\" "
           "transform=\"rotate(-35 %.1f %.1f)\">",
           cx, top + plot_h + 14, cx, top + plot_h + 14);
        html_esc(w, label);
        ef_export__jw_lit(w, "</text>");
        gi++;
    }
    const char *names[EF_STATS_MAX_K];
    char name_buf[EF_STATS_MAX_K][16];
    int ki = 0;
    const cJSON *k;
    cJSON_ArrayForEach(k, ks)
    {
        if (ki >= EF_STATS_MAX_K)
            break;
        snprintf(name_buf[ki], sizeof(name_buf[ki]), "pass@%d", k->valueint);
        names[ki] = name_buf[ki];
        ki++;
    }
    legend(w, left + plot_w + 14, top, names, ki);
    ef_export__jw_lit(w, "</svg>\n");
}

/* Small multiples: the reward histogram of each env/level. */
static void chart_rewards(ef_jw *w, const cJSON *stats)
{
    const cJSON *g;
    ef_export__jw_lit(w, "<div id=\"chart-rewards\" class=\"multiples\">");
    cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(stats, "groups"))
    {
        char label[160];
        group_label(g, label, sizeof(label));
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(g, "reward_histogram"), *b;
        double max = 1;
        cJSON_ArrayForEach(b, h) if (b->valuedouble > max) max = b->valuedouble;
        ef_export__jw_lit(w, "<figure class=\"small\"><svg class=\"chart hist\" "
                             "xmlns=\"http://www.w3.org/2000/svg\" width=\"180\" height=\"100\" "
                             "viewBox=\"0 0 180 100\" role=\"img\">");
        int i = 0;
        cJSON_ArrayForEach(b, h)
        {
            double bh = 70 * b->valuedouble / max;
            pf(w,
               "<rect class=\"bar\" x=\"%d\" y=\"%.1f\" width=\"15\" height=\"%.1f\" "
               "fill=\"%s\"><title>reward [%.1f, %.1f%s: %.0f episodes</title></rect>",
               10 + 16 * i, 80 - bh, bh, palette[0], i / 10.0, (i + 1) / 10.0, i == 9 ? "]" : ")",
               b->valuedouble);
            i++;
        }
        ef_export__jw_lit(w, "<line x1=\"10\" x2=\"170\" y1=\"80\" y2=\"80\" class=\"axis\"/>"
                             "<text x=\"10\" y=\"94\" class=\"ax\">0</text>"
                             "<text x=\"170\" y=\"94\" class=\"ax\" text-anchor=\"end\">1</text>"
                             "</svg><figcaption>");
        html_esc(w, label);
        pf(w, " (%.0f episodes)</figcaption></figure>", num(g, "episodes"));
    }
    ef_export__jw_lit(w, "</div>\n");
}

/* One stacked horizontal bar of end reasons per env/level, as shares. */
static void chart_end_reasons(ef_jw *w, const cJSON *stats)
{
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(stats, "groups");
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(stats, "total");
    const cJSON *reasons = cJSON_GetObjectItemCaseSensitive(total, "end_reasons");
    int n_r = cJSON_GetArraySize(reasons), n_g = cJSON_GetArraySize(groups);
    if (!n_r || !n_g) {
        ef_export__jw_lit(w, "<p class=\"empty\">no episodes</p>");
        return;
    }
    double left = 110, bar_w = 420, top = 6, row_h = 22;
    double width = left + bar_w + 130, height = top + row_h * n_g + 10;
    if (height < top + 14.0 * n_r + 10)
        height = top + 14.0 * n_r + 10;
    svg_open(w, "chart-end", width, height);
    int gi = 0;
    const cJSON *g;
    cJSON_ArrayForEach(g, groups)
    {
        char label[160];
        group_label(g, label, sizeof(label));
        double y = top + row_h * gi, x = left, n = num(g, "episodes");
        pf(w, "<text x=\"%.1f\" y=\"%.1f\" class=\"ax\" text-anchor=\"end\">", left - 6, y + 13);
        html_esc(w, label);
        ef_export__jw_lit(w, "</text>");
        const cJSON *er = cJSON_GetObjectItemCaseSensitive(g, "end_reasons"), *r;
        int ri = 0;
        cJSON_ArrayForEach(r, reasons)
        {
            double c = num(er, r->string);
            if (c > 0 && n > 0) {
                double bw = bar_w * c / n;
                pf(w,
                   "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"16\" "
                   "fill=\"%s\"><title>",
                   x, y, bw, palette[ri % N_PALETTE]);
                html_esc(w, label);
                ef_export__jw_lit(w, " ");
                html_esc(w, r->string);
                pf(w, ": %.0f of %.0f</title></rect>", c, n);
                x += bw;
            }
            ri++;
        }
        gi++;
    }
    const char *names[64];
    int ri = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, reasons)
    {
        if (ri < 64)
            names[ri++] = r->string;
    }
    legend(w, left + bar_w + 14, top, names, ri);
    ef_export__jw_lit(w, "</svg>\n");
}

/* Error rate of each tool over all episodes. */
static void chart_tools(ef_jw *w, const cJSON *stats)
{
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(stats, "total");
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(total, "tools");
    int n = cJSON_GetArraySize(tools);
    if (!n) {
        ef_export__jw_lit(w, "<p class=\"empty\">no tool calls</p>");
        return;
    }
    double left = 140, bar_w = 360, row_h = 22, top = 6;
    double width = left + bar_w + 150, height = top + row_h * n + 8;
    svg_open(w, "chart-tools", width, height);
    int i = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, tools)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "tool");
        double calls = num(t, "calls"), errs = num(t, "errors");
        double rate = calls > 0 ? errs / calls : 0, y = top + row_h * i;
        pf(w, "<text x=\"%.1f\" y=\"%.1f\" class=\"ax\" text-anchor=\"end\">", left - 6, y + 13);
        html_esc(w, cJSON_IsString(name) ? name->valuestring : "?");
        pf(w, "</text><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"16\" class=\"track\"/>",
           left, y, bar_w);
        pf(w,
           "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"16\" "
           "fill=\"%s\"><title>",
           left, y, bar_w * rate, palette[3]);
        html_esc(w, cJSON_IsString(name) ? name->valuestring : "?");
        pf(w, ": %.0f errors in %.0f calls</title></rect>", errs, calls);
        pf(w, "<text x=\"%.1f\" y=\"%.1f\" class=\"ax\">%.1f%% of %.0f</text>", left + bar_w + 6,
           y + 13, 100 * rate, calls);
        i++;
    }
    ef_export__jw_lit(w, "</svg>\n");
}

/* ---- the embedded episodes --------------------------------------------------------------- */

typedef struct {
    sqlite3_stmt *msgs, *calls;
} viewer_stmts;

static int write_episode(ef_store *s, viewer_stmts *vs, ef_jw *w, sqlite3_stmt *q, size_t cap)
{
    int64_t id = sqlite3_column_int64(q, 0);
    ef_export__jw_lit(w, "{\"id\":");
    ef_export__jw_int(w, id);
    ef_export__jw_lit(w, ",\"run\":");
    ef_export__jw_str(w, (const char *)sqlite3_column_text(q, 1));
    ef_export__jw_lit(w, ",\"group_id\":");
    ef_export__jw_int(w, sqlite3_column_int64(q, 2));
    ef_export__jw_lit(w, ",\"sample_idx\":");
    ef_export__jw_int(w, sqlite3_column_int64(q, 3));
    ef_export__jw_lit(w, ",\"task_id\":");
    ef_export__jw_int(w, sqlite3_column_int64(q, 4));
    ef_export__jw_lit(w, ",\"env\":");
    ef_export__jw_str(w, (const char *)sqlite3_column_text(q, 5));
    ef_export__jw_lit(w, ",\"level\":");
    ef_export__jw_int(w, sqlite3_column_int64(q, 6));
    ef_export__jw_lit(w, ",\"reward\":");
    ef_export__jw_num(w, sqlite3_column_double(q, 7));
    ef_export__jw_lit(w, sqlite3_column_int(q, 8) ? ",\"verified\":true" : ",\"verified\":false");
    ef_export__jw_lit(w, ",\"status\":");
    ef_export__jw_str(w, (const char *)sqlite3_column_text(q, 9));
    ef_export__jw_lit(w, ",\"end_reason\":");
    ef_export__jw_str(w, (const char *)sqlite3_column_text(q, 10));
    ef_export__jw_lit(w, ",\"n_turns\":");
    ef_export__jw_int(w, sqlite3_column_int64(q, 11));
    ef_export__jw_lit(w, ",\"answer\":");
    ef_export__jw_str_capped(w, (const char *)sqlite3_column_text(q, 12), cap);
    ef_export__jw_lit(w, ",\"verify_info\":");
    ef_export__jw_str_capped(w, (const char *)sqlite3_column_text(q, 13), cap);
    ef_export__jw_lit(w, ",\"error\":");
    ef_export__jw_str_capped(w, (const char *)sqlite3_column_text(q, 14), cap);
    ef_export__jw_lit(w, ",\"model\":");
    ef_export__jw_str(w, (const char *)sqlite3_column_text(q, 15));
    ef_export__jw_lit(w, ",\"messages\":[");
    sqlite3_reset(vs->msgs);
    sqlite3_bind_int64(vs->msgs, 1, id);
    int rc, first = 1;
    while ((rc = sqlite3_step(vs->msgs)) == SQLITE_ROW) {
        ef_export__jw_lit(w, first ? "{\"role\":" : ",{\"role\":");
        first = 0;
        ef_export__jw_str(w, (const char *)sqlite3_column_text(vs->msgs, 0));
        ef_export__jw_lit(w, ",\"content\":");
        ef_export__jw_str_capped(w, (const char *)sqlite3_column_text(vs->msgs, 1), cap);
        ef_export__jw_lit(w, ",\"reasoning\":");
        ef_export__jw_str_capped(w, (const char *)sqlite3_column_text(vs->msgs, 2), cap);
        ef_export__jw_lit(w, ",\"tool_calls\":");
        /* A string (the viewer parses it): stored JSON is not escaped for HTML. */
        ef_export__jw_str_capped(w, (const char *)sqlite3_column_text(vs->msgs, 3), cap);
        ef_export__jw_lit(w, ",\"tool_call_id\":");
        ef_export__jw_str(w, (const char *)sqlite3_column_text(vs->msgs, 4));
        ef_export__jw_lit(w, ",\"name\":");
        ef_export__jw_str(w, (const char *)sqlite3_column_text(vs->msgs, 5));
        ef_export__jw_lit(w, "}");
    }
    if (rc != SQLITE_DONE)
        return ef_datasets__sqlerr(s, rc, "report: messages of episode %lld", (long long)id);
    ef_export__jw_lit(w, "],\"calls\":[");
    sqlite3_reset(vs->calls);
    sqlite3_bind_int64(vs->calls, 1, id);
    first = 1;
    while ((rc = sqlite3_step(vs->calls)) == SQLITE_ROW) {
        ef_export__jw_lit(w, first ? "{\"call_id\":" : ",{\"call_id\":");
        first = 0;
        ef_export__jw_str(w, (const char *)sqlite3_column_text(vs->calls, 0));
        ef_export__jw_lit(w, ",\"tool\":");
        ef_export__jw_str(w, (const char *)sqlite3_column_text(vs->calls, 1));
        ef_export__jw_lit(w, sqlite3_column_int(vs->calls, 2) ? ",\"is_error\":true"
                                                              : ",\"is_error\":false");
        ef_export__jw_lit(w, ",\"wall_ms\":");
        ef_export__jw_int(w, sqlite3_column_int64(vs->calls, 3));
        ef_export__jw_lit(w, ",\"message_idx\":");
        ef_export__jw_int(w, sqlite3_column_int64(vs->calls, 4));
        ef_export__jw_lit(w, "}");
    }
    if (rc != SQLITE_DONE)
        return ef_datasets__sqlerr(s, rc, "report: tool calls of episode %lld", (long long)id);
    ef_export__jw_lit(w, "]}");
    return 0;
}

#define REPORT_EPISODE_SQL(cols)                                                                   \
    "SELECT " cols " FROM episodes ep JOIN runs r ON r.id = ep.run_id "                            \
    "JOIN tasks t ON t.id = ep.task_id JOIN envs e ON e.id = t.env_id "                            \
    "WHERE (?1 IS NULL OR r.name = ?1) AND (?2 IS NULL OR e.name = ?2) "                           \
    "ORDER BY ep.run_id, ep.group_id, ep.sample_idx, ep.id"

static int prep(ef_store *s, const char *sql, const ef_report_options *o, sqlite3_stmt **out)
{
    int rc = sqlite3_prepare_v2(s->db, sql, -1, out, NULL);
    if (rc != SQLITE_OK)
        return ef_datasets__sqlerr(s, rc, "report: prepare");
    if (o->stats.run)
        sqlite3_bind_text(*out, 1, o->stats.run, -1, SQLITE_STATIC);
    if (o->stats.env)
        sqlite3_bind_text(*out, 2, o->stats.env, -1, SQLITE_STATIC);
    return 0;
}

/* Position k of the max episodes shown out of total (total > max): floor(k * total /
 * max), spread evenly from the first; split so that k * total cannot overflow. */
static int64_t pick_at(int64_t k, int64_t total, int64_t max)
{
    return k * (total / max) + k * (total % max) / max;
}

/* The episodes as a JSON array: min(max, all) of them, spread evenly in export order
 * (a stride of ceil(total / max) would show as few as about half of max). */
static int write_episodes(ef_store *s, const ef_report_options *o, ef_jw *w, int64_t *n_shown,
                          int64_t *n_all)
{
    sqlite3_stmt *cnt = NULL, *q = NULL;
    viewer_stmts vs = {NULL, NULL};
    int rc;
    int64_t total = 0, shown = 0;
    if ((rc = prep(s, REPORT_EPISODE_SQL("count(*)"), o, &cnt)) < 0)
        goto cleanup;
    if (sqlite3_step(cnt) == SQLITE_ROW)
        total = sqlite3_column_int64(cnt, 0);
    int64_t max = o->max_episodes > 0 ? o->max_episodes : 0;
    if ((rc = prep(s,
                   REPORT_EPISODE_SQL("ep.id, r.name, ep.group_id, ep.sample_idx, ep.task_id, "
                                      "e.name, t.level, ep.reward, ep.verified, ep.status, "
                                      "ep.end_reason, ep.n_turns, ep.answer, ep.verify_info, "
                                      "ep.error, ep.model"),
                   o, &q)) < 0)
        goto cleanup;
    rc = sqlite3_prepare_v2(s->db,
                            "SELECT role, content, reasoning_content, tool_calls, tool_call_id, "
                            "name FROM messages WHERE episode_id = ?1 ORDER BY idx",
                            -1, &vs.msgs, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(s->db,
                                "SELECT call_id, tool, is_error, wall_ms, message_idx FROM "
                                "tool_calls WHERE episode_id = ?1 ORDER BY id",
                                -1, &vs.calls, NULL);
    if (rc != SQLITE_OK) {
        rc = ef_datasets__sqlerr(s, rc, "report: prepare");
        goto cleanup;
    }
    rc = 0;
    ef_export__jw_lit(w, "[");
    int64_t i = 0, next = 0;
    int step = SQLITE_DONE;
    while (max > 0 && shown < max && (step = sqlite3_step(q)) == SQLITE_ROW) {
        if (i++ != next)
            continue;
        next = total > max ? pick_at(shown + 1, total, max) : shown + 1;
        if (shown++)
            ef_export__jw_lit(w, ",\n");
        if ((rc = write_episode(s, &vs, w, q, o->max_content_bytes)) < 0)
            goto cleanup;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        rc = ef_datasets__sqlerr(s, step, "report: episodes");
        goto cleanup;
    }
    ef_export__jw_lit(w, "]");
cleanup:
    *n_shown = shown;
    *n_all = total;
    sqlite3_finalize(cnt);
    sqlite3_finalize(q);
    sqlite3_finalize(vs.msgs);
    sqlite3_finalize(vs.calls);
    return rc;
}

/* ---- the page ----------------------------------------------------------------------------- */

int ef_report_write(ef_store *s, const ef_report_options *o, FILE *out)
{
    ef_ctx *ctx = ef_store_ctx(s);
    if (!o || o->version != EF_REPORT_OPTIONS_VERSION)
        return ef_errorf(ctx, EF_EINVAL, "report: options version %u, expected %u",
                         o ? o->version : 0, EF_REPORT_OPTIONS_VERSION);
    cJSON *stats = NULL;
    int rc = ef_stats_compute(s, &o->stats, &stats);
    if (rc < 0)
        return rc;
    ef_jw w;
    ef_export__jw_init(&w, out);
    char title[512];
    if (o->title)
        snprintf(title, sizeof(title), "%s", o->title);
    else
        snprintf(title, sizeof(title), "envforge report: %s", ef_store_path(s));
    ef_export__jw_lit(&w, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                          "<meta name=\"viewport\" content=\"width=device-width\"><title>");
    html_esc(&w, title);
    ef_export__jw_lit(&w, "</title><style>");
    ef_export__jw_lit(&w, ef_report__css);
    ef_export__jw_lit(&w, "</style></head><body>\n<header><h1>");
    html_esc(&w, title);
    ef_export__jw_lit(&w, "</h1><p class=\"sub\">");
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(stats, "total");
    pf(&w, "%.0f tasks, %.0f episodes", num(total, "tasks"), num(total, "episodes"));
    if (o->stats.run) {
        ef_export__jw_lit(&w, ", run ");
        html_esc(&w, o->stats.run);
    }
    if (o->stats.env) {
        ef_export__jw_lit(&w, ", env ");
        html_esc(&w, o->stats.env);
    }
    pf(&w,
       "; success = reward &ge; %g; pass@k by the unbiased estimator over tasks with at "
       "least k samples</p></header>\n",
       o->stats.success_reward);
    ef_export__jw_lit(&w, "<section id=\"summary\"><h2>Summary</h2>");
    summary_table(&w, stats);
    ef_export__jw_lit(&w, "</section>\n<section id=\"charts\"><h2>pass@k per env and level</h2>"
                          "<div class=\"scroll\">");
    chart_pass(&w, stats);
    ef_export__jw_lit(&w, "</div>");
    ef_export__jw_lit(&w, "<h2>Reward histograms</h2>");
    chart_rewards(&w, stats);
    ef_export__jw_lit(&w, "<h2>End reasons</h2>");
    chart_end_reasons(&w, stats);
    ef_export__jw_lit(&w, "<h2>Tool error rates</h2>");
    chart_tools(&w, stats);
    ef_export__jw_lit(&w, "</section>\n<section id=\"viewer\"><h2>Trajectories</h2>"
                          "<div class=\"filters\"><input id=\"q\" type=\"search\" "
                          "placeholder=\"search messages, answers, tools\">"
                          "<select id=\"f-env\"><option value=\"\">all envs</option></select>"
                          "<select id=\"f-verified\"><option value=\"\">verified or not</option>"
                          "<option value=\"1\">verified</option><option value=\"0\">not "
                          "verified</option></select>"
                          "<select id=\"f-outcome\"><option value=\"\">any reward</option>"
                          "<option value=\"pass\">passed</option><option value=\"fail\">failed"
                          "</option></select>"
                          "<label>min reward <input id=\"f-min\" type=\"number\" min=\"0\" "
                          "max=\"1\" step=\"0.1\" value=\"0\"></label>"
                          "<span id=\"count\"></span></div>"
                          "<div class=\"viewer\"><ol id=\"episode-list\"></ol>"
                          "<article id=\"trajectory\"></article></div>");
    int64_t shown = 0, all = 0;
    ef_export__jw_lit(&w, "<script type=\"application/json\" id=\"episodes-data\">");
    if ((rc = ef_export__read_begin(s)) < 0)
        goto cleanup;
    w.html_safe = 1;
    rc = write_episodes(s, o, &w, &shown, &all);
    ef_export__read_end(s);
    if (rc < 0)
        goto cleanup;
    pf(&w,
       "</script><script type=\"application/json\" id=\"report-meta\">"
       "{\"shown\":%lld,\"total\":%lld,\"success_reward\":%.17g}</script>",
       (long long)shown, (long long)all, o->stats.success_reward);
    ef_export__jw_lit(&w, "</section>\n<script>");
    ef_export__jw_lit(&w, ef_report__js);
    ef_export__jw_lit(&w, "</script></body></html>\n");
    ef_export__jw_flush(&w);
    if (w.failed)
        rc = ef_errorf(ctx, EF_EIO, "report: writing the output failed");
cleanup:
    cJSON_Delete(stats);
    return rc;
}
