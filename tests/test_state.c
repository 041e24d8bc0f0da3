/* The trainer's state (tools/train.c) read back from damaged text: every
   way a model.vae's application section can lie about the run is refused
   with -1, never trusted: an epoch past the run's, a position inside a
   step, a generator stuck at zero, an order that is not a permutation,
   keys missing or twice, a line cut short. The whole state as written
   reads back as it was. */
#include "../vae.c"
#include "../mnist.c"
#include "../opencl/vae_opencl.c"
#include "../tools/common.c"
#include "../tools/opts.c"
#include "../tools/png.c"
#include "../tools/svg.c"
#include "../tools/pictures.c"
#include "../tools/report.c"
#include "../tools/platform.c"
#include "../tools/progress.c"
#include "../tools/threads.c"
#include "../tools/train.c"
#include "check.h"

enum { N = 10, BATCH = 2, EPOCHS = 3 };

static const char good[] = "vae-train 1\n"
                           "cwd /tmp\n"
                           "arg --train\n"
                           "arg x.idx\n"
                           "epochs 3\n"
                           "data_crc 1234abcd\n"
                           "at 2 4 0\n"
                           "sums -100.5 -90.25\n"
                           "rng shuffle 0000000000000001 0000000000000002 0000000000000003 0000000000000004\n"
                           "rng binarize 0000000000000005 0000000000000006 0000000000000007 0000000000000008\n"
                           "best 1 -95.5 0\n"
                           "row -120 -110 -95.5 -120 0\n"
                           "order 10 3 1 4 0 9 2 6 5 8 7\n";

/* parse_state on good with the line starting `from` replaced by `to` ("":
   removed), in a fresh run of N images, batch BATCH, EPOCHS epochs. */
static int parse_changed(vae *m, const char *from, const char *to)
{
    static char buf[2048];
    static int idx[N];
    static log_row rows[EPOCHS];
    run r;
    const char *at = from ? strstr(good, from) : NULL;
    memset(&r, 0, sizeof r);
    r.m = m;
    r.d.train.n = N;
    r.idx = idx;
    r.rows = rows;
    r.a.epochs = EPOCHS;
    if (at) {
        const char *end = strchr(at, '\n') + 1;
        snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - good), good, to, end);
    } else {
        snprintf(buf, sizeof buf, "%s", good);
    }
    if (parse_state(&r, buf) != 0)
        return -1;
    return r.epoch == 2 && r.position == 4 && r.crc == 0x1234abcdU && r.best_epoch == 1 && idx[0] == 3 &&
                   idx[9] == 7 && rows[0].test_bound == -110.0 && r.shuffle_rng.s[3] == 4
               ? 0
               : -2;
}

int main(void)
{
    vae_config cfg;
    vae *m;
    vae_config_init(&cfg);
    cfg.input_dim = 4;
    cfg.n_hidden = 0;
    cfg.latent_dim = 2;
    cfg.max_batch = BATCH;
    CHECK(vae_create(&m, &cfg, NULL) == VAE_OK, "create");
    CHECK(parse_changed(m, NULL, NULL) == 0, "the whole state reads back");
    CHECK(parse_changed(m, "cwd", "") == 0, "lines it does not need are not needed");
    CHECK(parse_changed(m, "at ", "at 5 0 0\n") == -1, "an epoch past the run's");
    CHECK(parse_changed(m, "at ", "at 2 3 0\n") == -1, "a position inside a step");
    CHECK(parse_changed(m, "at ", "at 2 10 0\n") == -1, "a position past the images");
    CHECK(parse_changed(m, "at ", "at 2 4 7\n") == -1, "done neither 0 nor 1");
    CHECK(parse_changed(m, "at ", "at 3 0 0\n") == -1, "more epochs than rows");
    CHECK(parse_changed(m, "rng shuffle",
                        "rng shuffle 0000000000000000 0000000000000000 0000000000000000 0000000000000000\n") == -1,
          "a generator stuck at zero");
    CHECK(parse_changed(m, "rng shuffle", "rng other 1 2 3 4\n") == -1, "an unknown generator");
    CHECK(parse_changed(m, "order", "order 10 3 1 4 0 9 2 6 5 8 3\n") == -1, "an image twice in the order");
    CHECK(parse_changed(m, "order", "order 10 3 1 4 0 9 2 6 5 8 10\n") == -1, "an image out of range");
    CHECK(parse_changed(m, "order", "order 10 3 1 4 0 9 2 6 5 8\n") == -1, "an order cut short");
    CHECK(parse_changed(m, "order", "order 10 3 1 4 0 9 2 6 5 8 7 1\n") == -1, "an order too long");
    CHECK(parse_changed(m, "order", "order 9 3 1 4 0 9 2 6 5 8\n") == -1, "an order of another size");
    CHECK(parse_changed(m, "sums", "") == -1, "no sums");
    CHECK(parse_changed(m, "best", "best 1 -95.5 0\nbest 1 -95.5 0\n") == -1, "best twice");
    CHECK(parse_changed(m, "best", "best 2 -95.5 0\n") == -1, "a best epoch not yet ended");
    CHECK(parse_changed(m, "vae-train", "vae-train 2\n") == -1, "another format");
    CHECK(parse_changed(m, "row", "row -120 -110\n") == -1, "a row cut short");
    CHECK(parse_changed(m, "order", "order 10 3 1 4 0 9 2 6 5 8 7") == -1, "no line end");
    vae_free(m);
    return check_summary();
}
