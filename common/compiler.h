/*
 * compiler.h: attribute macros shared by every module (STYLE.md, "contract
 * comments").
 */
#ifndef PGW_COMMON_COMPILER_H
#define PGW_COMMON_COMPILER_H

#define PGW_MUSTCHECK         __attribute__((warn_unused_result))
#define PGW_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define PGW_NORETURN          __attribute__((noreturn))
#define PGW_UNUSED            __attribute__((unused))
#define PGW_LENGTHOF(a)       (sizeof(a) / sizeof((a)[0]))

#endif
