/* Planning a GGUF file: the header read through the file layer (metadata and tensor
 * table, never tensor data), hyper-parameters, roles, the plan. This is what
 * hy_plan_file() does once it has a profile and budgets; split out so tests can hand it
 * any struct file and count the bytes read.
 *
 * Not owned here: the policy (plan.c), measuring (profile.h). */
#ifndef HY_TIER_PLAN_FILE_H
#define HY_TIER_PLAN_FILE_H

#include "arch/hparams.h"
#include "tier/plan.h"

struct file;
struct gguf;

/* The public hy_plan handle. */
struct hy_plan {
    struct gguf *g;                 /* the header; tensor names point into it */
    bool own_g;                     /* g is freed with the plan */
    struct hparams hp;
    struct plan_tensor_in *t;       /* (n_tensors) */
    struct plan_params params;      /* as planned (budgets resolved) */
    struct hy_profile prof;         /* the profile the plan was made for */
    struct plan *pl;
};

/* Parse f's header and plan it for p (resolved: ram_budget set) on prof. f stays the
 * caller's (it is not kept). */
int plan_file_open(struct file *f, const struct plan_params *p, const struct hy_profile *prof,
                   struct hy_plan **out);
/* Plan a header already parsed; g and hp are borrowed and must outlive the plan. */
int plan_gguf(const struct gguf *g, const struct hparams *hp, const struct plan_params *p,
              const struct hy_profile *prof, struct hy_plan **out);

/* What hy_plan_file does before planning: get the profile for the model at path
 * (measuring the model's storage on first use, unless p->no_measure), and resolve the
 * caller's request into what the planner takes: budgets (defaults; a RAM budget above a
 * cgroup limit refused), threads, batch. */
int plan_resolve(const char *path, const struct hy_plan_params *p, struct hy_profile *prof,
                 struct plan_params *out);

#endif
