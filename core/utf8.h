/* core/utf8.h — the one UTF-8 check of core/: route labels and the
 * exposition's escaping both keep valid sequences and replace the rest. */
#ifndef PROMSHIM_CORE_UTF8_H
#define PROMSHIM_CORE_UTF8_H

#include <stddef.h>

/* Length of the valid multi-byte UTF-8 sequence at s[0..n), or 0; then,
 * when bad is not NULL, *bad is the length of its maximal invalid subpart
 * (Unicode 3.9, "U+FFFD substitution of maximal subparts"). Overlongs,
 * surrogates and values above U+10FFFF are rejected by the ranges allowed
 * for the second byte. ASCII is the caller's (it returns 0 for it). */
static inline size_t utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
	unsigned c = s[0], lo = 0x80, hi = 0xBF;
	size_t need, i;

	if (c >= 0xC2 && c <= 0xDF) {
		need = 1;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 2;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 3;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else {
		if (bad)
			*bad = 1;
		return 0;
	}
	for (i = 1; i <= need && i < n; i++) {
		if (s[i] < lo || s[i] > hi)
			break;
		lo = 0x80;
		hi = 0xBF;
	}
	if (i == need + 1)
		return i;
	if (bad)
		*bad = i;
	return 0;
}

#endif
