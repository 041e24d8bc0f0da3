/* export_cmd.c — vae export: a trained model's decoder and encoder as C
   source (export_c.c) or ONNX (onnx.c). Everything is built in memory
   first and every target checked for writing before the first file is
   written, so a failure leaves no partial set of files.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "export.h"
#include "export_c.h"
#include "onnx.h"
#include "opts.h"
#include "platform.h"

static const char *const format_names[] = {"c", "onnx", NULL};
static const char *const part_names[] = {"decoder", "encoder", "both", NULL};
static const char *const weight_names[] = {"float", "int8", NULL};
enum { FORMAT_C, FORMAT_ONNX };
enum { PART_DECODER, PART_ENCODER, PART_BOTH };

static const char export_usage[] =
    "usage: vae export --model FILE --out DIR [options]\n"
    "\n"
    "Writes a trained model's decoder and encoder as code that needs nothing\n"
    "of vae:\n"
    "  --format c     NAME.h and NAME.c, C99 with const weights and no malloc:\n"
    "                 NAME_decode(z, mean, scratch) and NAME_encode(x, mu,\n"
    "                 logvar, scratch), sizes as macros (NAME_Z, NAME_D, ...,\n"
    "                 NAME_SCRATCH_FLOATS); libm's expf and tanhf only, or none\n"
    "                 with --no-libm\n"
    "  --format onnx  NAME.decoder.onnx and NAME.encoder.onnx (opset 13, batch\n"
    "                 free): decoder z [N, Z] -> mean [N, C, H, W], encoder\n"
    "                 x [N, C, H, W] -> mu, logvar [N, Z]\n"
    "Images are (channels, rows, cols). int8 weights (C only) are symmetric,\n"
    "one scale per output channel, summed in float.\n"
    "\n"
    "options:\n";

typedef struct {
    const char *model, *out, *name;
    int format, part, weights, no_libm;
} export_args;

static int export_parse(export_args *a, int argc, char **argv, int *status)
{
    opt table[] = {
        {.name = "model", .kind = OPT_STR, .dst = &a->model, .meta = "FILE", .help = "model written by vae train",
         .required = 1},
        {.name = "out", .kind = OPT_STR, .dst = &a->out, .meta = "DIR", .help = "directory to write into (made if missing)",
         .required = 1},
        {.name = "format", .kind = OPT_CHOICE, .dst = &a->format, .help = "C source or ONNX", .choices = format_names},
        {.name = "part", .kind = OPT_CHOICE, .dst = &a->part, .help = "what to export", .choices = part_names},
        {.name = "weights", .kind = OPT_CHOICE, .dst = &a->weights, .help = "C: weights as float32 or int8",
         .choices = weight_names},
        {.name = "name", .kind = OPT_STR, .dst = &a->name, .meta = "NAME",
         .help = "file and function prefix, a C identifier"},
        {.name = "no-libm", .kind = OPT_FLAG, .dst = &a->no_libm,
         .help = "C: the library's own exp and tanh, no libm"},
        {.name = "help", .kind = OPT_HELP, .help = "print this text and exit"},
        {.name = NULL},
    };
    int r;
    memset(a, 0, sizeof *a);
    a->format = FORMAT_C;
    a->part = PART_BOTH;
    a->name = "vae_model";
    r = opt_parse(table, argc, argv, "vae export");
    if (r == OPT_SHOW_HELP) {
        fputs(export_usage, stdout);
        opt_help(stdout, table);
        *status = 0;
        return r;
    }
    *status = EXIT_USAGE;
    if (r != OPT_OK)
        return r;
    if (!export_name_ok(a->name)) {
        cli_error("--name '%s' is not a C identifier of at most 32 characters", a->name);
        return OPT_BAD;
    }
    if (a->format == FORMAT_ONNX && (a->weights || a->no_libm)) {
        cli_error("%s is for --format c: ONNX files keep float32 weights and the runtime's own functions",
                  a->weights ? "--weights int8" : "--no-libm");
        return OPT_BAD;
    }
    *status = 0;
    return OPT_OK;
}

typedef struct {
    char path[MAX_PATH];
    void *data;
    size_t len;
} out_file;

static int target(out_file *f, const char *dir, const char *name, const char *suffix)
{
    char file[128];
    snprintf(file, sizeof file, "%s%s", name, suffix);
    if (!join_path(f->path, sizeof f->path, dir, file)) {
        cli_error("--out path is too long");
        return -1;
    }
    return 0;
}

int cmd_export(int argc, char **argv)
{
    export_args a;
    export_part parts[2];
    const export_part *list[2];
    out_file files[2];
    export_sizes sizes;
    vae *m = NULL;
    char why[256];
    int status, n = 0, nf = 0, i;
    memset(parts, 0, sizeof parts);
    memset(files, 0, sizeof files);
    if (export_parse(&a, argc, argv, &status) != OPT_OK)
        return status;
    if ((status = load_model(a.model, NULL, &m)) != 0)
        return status;
    status = EXIT_RUNTIME;
    for (i = 0; i < 2; i++) {
        int decoder = i == 0;
        if ((decoder && a.part == PART_ENCODER) || (!decoder && a.part == PART_DECODER))
            continue;
        if (export_part_load(m, decoder, &parts[n], why, sizeof why) != 0) {
            cli_error("%s: %s", a.model, why);
            goto done;
        }
        list[n] = &parts[n];
        n++;
    }
    if (a.format == FORMAT_C) {
        char *h, *c;
        if (export_c(list, n, a.name, a.model, a.weights == 1, a.no_libm, &h, &c, &sizes, why, sizeof why) != 0) {
            cli_error("%s", why);
            goto done;
        }
        files[0].data = h;
        files[0].len = strlen(h);
        files[1].data = c;
        files[1].len = strlen(c);
        nf = 2;
        if (target(&files[0], a.out, a.name, ".h") || target(&files[1], a.out, a.name, ".c"))
            goto done;
    } else {
        for (i = 0; i < n; i++) {
            unsigned char *bytes;
            if (onnx_encode(list[i], a.name, &bytes, &files[i].len, why, sizeof why) != 0) {
                cli_error("%s", why);
                goto done;
            }
            files[i].data = bytes;
            nf++;
            if (target(&files[i], a.out, a.name, list[i]->decoder ? ".decoder.onnx" : ".encoder.onnx"))
                goto done;
        }
    }
    if (make_dirs(a.out) != 0) {
        cli_error("cannot make '%s': %s", a.out, strerror(errno));
        goto done;
    }
    for (i = 0; i < nf; i++)
        if (platform_is_dir(files[i].path) || can_write(files[i].path) != 0) {
            if (platform_is_dir(files[i].path))
                errno = EISDIR;
            cli_error("cannot write '%s': %s", files[i].path, strerror(errno));
            goto done;
        }
    for (i = 0; i < nf; i++)
        if (write_atomic(files[i].path, files[i].data, files[i].len) != 0) {
            cli_error("cannot write '%s': %s", files[i].path, strerror(errno));
            goto done;
        }
    for (i = 0; i < nf; i++)
        printf("%s  %lu bytes\n", files[i].path, (unsigned long)files[i].len);
    if (a.format == FORMAT_C)
        printf("weights %ld bytes (%s), scratch %ld floats\n", sizes.weight_bytes, a.weights ? "int8" : "float32",
               sizes.scratch_floats);
    status = 0;
done:
    for (i = 0; i < 2; i++) {
        export_part_free(&parts[i]);
        free(files[i].data);
    }
    vae_free(m);
    return status;
}
