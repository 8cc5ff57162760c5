#include "textflag.h"

// func flushLines(p unsafe.Pointer, n int)
TEXT ·flushLines(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), AX
	MOVQ n+8(FP), CX
	TESTQ CX, CX
	JLE  done

loop:
	CLFLUSH (AX)
	ADDQ $64, AX
	DECQ CX
	JNZ  loop

done:
	MFENCE
	RET
