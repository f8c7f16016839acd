// iotc: <assert.h> for the ESP8266 port on picolibc (in front of picolibc's own).
// MIT license; Copyright (c) 2026 the iotc authors
//
// The port defines the failure handlers newlib had: __assert_func(file, line, func, expr),
// which assert() calls, and __assert(file, line, expr). picolibc's assert.h declares
// __assert(file, expr, line) instead, and the port's definition then fails to compile. This
// one declares only what assert() calls; the port's definitions are unchanged.
#undef assert
#ifdef NDEBUG
#define assert(e) ((void)0)
#else
#define assert(e) ((e) ? (void)0 : __assert_func(__FILE__, __LINE__, __func__, #e))
#endif

#ifndef IOTC_ASSERT_H
#define IOTC_ASSERT_H
void __assert_func(const char *file, int line, const char *func, const char *expr);
#if __STDC_VERSION__ >= 201112L && !defined static_assert
#define static_assert _Static_assert
#endif
#endif
