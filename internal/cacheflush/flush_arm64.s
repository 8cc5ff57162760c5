#include "textflag.h"

// func flushLines(p unsafe.Pointer, n int)
TEXT ·flushLines(SB), NOSPLIT, $0-16
	MOVD p+0(FP), R0
	MOVD n+8(FP), R1
	CBZ  R1, done

loop:
	DC   CIVAC, R0
	ADD  $64, R0
	SUB  $1, R1
	CBNZ R1, loop

done:
	DSB  $15
	RET
