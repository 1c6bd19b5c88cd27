/*
 * httpdate.c - HTTP-dates (RFC 9110 §5.6.7) for Retry-After: IMF-fixdate, and the obsolete
 * RFC 850 and asctime forms that recipients must still accept. Names of days, months and the
 * zone are compared without regard to case, as curl_getdate did.
 */
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http/http.h"

typedef struct cursor {
    const char *p, *end;
} cursor;

static const char *const day_names[] = { "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                                         "Saturday", "Sunday" };
static const char *const month_names[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* ===== Tokens ===== */

/* Consumes the n bytes of s (ignoring case) when they come next. */
static int literal(cursor *c, const char *s, size_t n)
{
    if ((size_t)(c->end - c->p) < n || strncasecmp(c->p, s, n) != 0)
        return 0;
    c->p += n;
    return 1;
}

/* Consumes exactly n digits into *out. */
static int digits(cursor *c, int n, int *out)
{
    int i;

    if (c->end - c->p < n)
        return 0;
    for (*out = 0, i = 0; i < n; i++, c->p++) {
        if (*c->p < '0' || *c->p > '9')
            return 0;
        *out = *out * 10 + (*c->p - '0');
    }
    return 1;
}

/* A day name: its three-letter form, or with full, the whole name. */
static int day_name(cursor *c, int full)
{
    int i;

    for (i = 0; i < 7; i++)
        if (literal(c, day_names[i], full ? strlen(day_names[i]) : 3))
            return 1;
    return 0;
}

static int month(cursor *c, int *mon)
{
    for (*mon = 0; *mon < 12; (*mon)++)
        if (literal(c, month_names[*mon], 3))
            return 1;
    return 0;
}

/* hour ":" minute ":" second, two digits each */
static int time_of_day(cursor *c, struct tm *tm)
{
    return digits(c, 2, &tm->tm_hour) && literal(c, ":", 1) && digits(c, 2, &tm->tm_min) && literal(c, ":", 1) &&
           digits(c, 2, &tm->tm_sec);
}

/* ===== The three forms ===== */

/* Sun, 06 Nov 1994 08:49:37 GMT */
static int imf_fixdate(cursor c, struct tm *tm)
{
    return day_name(&c, 0) && literal(&c, ", ", 2) && digits(&c, 2, &tm->tm_mday) && literal(&c, " ", 1) &&
           month(&c, &tm->tm_mon) && literal(&c, " ", 1) && digits(&c, 4, &tm->tm_year) && literal(&c, " ", 1) &&
           time_of_day(&c, tm) && literal(&c, " GMT", 4) && c.p == c.end;
}

/* Sunday, 06-Nov-94 08:49:37 GMT (the year is resolved against now by the caller) */
static int rfc850_date(cursor c, struct tm *tm)
{
    return day_name(&c, 1) && literal(&c, ", ", 2) && digits(&c, 2, &tm->tm_mday) && literal(&c, "-", 1) &&
           month(&c, &tm->tm_mon) && literal(&c, "-", 1) && digits(&c, 2, &tm->tm_year) && literal(&c, " ", 1) &&
           time_of_day(&c, tm) && literal(&c, " GMT", 4) && c.p == c.end;
}

/* Sun Nov  6 08:49:37 1994 */
static int asctime_date(cursor c, struct tm *tm)
{
    if (!(day_name(&c, 0) && literal(&c, " ", 1) && month(&c, &tm->tm_mon) && literal(&c, " ", 1)))
        return 0;
    if (!(literal(&c, " ", 1) ? digits(&c, 1, &tm->tm_mday) : digits(&c, 2, &tm->tm_mday)))
        return 0;
    return literal(&c, " ", 1) && time_of_day(&c, tm) && literal(&c, " ", 1) && digits(&c, 4, &tm->tm_year) &&
           c.p == c.end;
}

/* ===== Parsing ===== */

/* RFC 9110: a two-digit year more than 50 years in the future is the most recent past year
   with the same last two digits. */
static int full_year(int yy, time_t now)
{
    struct tm today;
    int year, y;

    gmtime_r(&now, &today);
    year = today.tm_year + 1900;
    y = year - year % 100 + yy;
    if (y > year + 50)
        y -= 100;
    else if (y + 100 <= year + 50)
        y += 100;
    return y;
}

int httpdate_parse(const char *s, size_t len, time_t now, time_t *out)
{
    cursor c = { s, s + len };
    struct tm tm, check;
    int mday, sec;
    time_t t;

    memset(&tm, 0, sizeof tm);
    if (imf_fixdate(c, &tm) || asctime_date(c, &tm))
        tm.tm_year -= 1900;
    else if (rfc850_date(c, &tm))
        tm.tm_year = full_year(tm.tm_year, now) - 1900;
    else
        return 0;
    if (tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return 0;
    mday = tm.tm_mday;
    sec = tm.tm_sec;
    if ((t = timegm(&tm)) == (time_t)-1)
        return 0;
    /* timegm carries 31 Feb into March: such a date is no date */
    if (sec < 60 && (gmtime_r(&t, &check) == NULL || check.tm_mday != mday))
        return 0;
    *out = t;
    return 1;
}
