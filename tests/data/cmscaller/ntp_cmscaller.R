# CMScaller's ntp() on a real TCGA colorectal cohort, for tests/test_ntp_cmscaller.py.
#
# Usage (from the project's root; CMSCALLER = a checkout of github.com/Lothelab/CMScaller):
#   Rscript tests/data/cmscaller/ntp_cmscaller.R CMSCALLER inputs   # writes the inputs
#   Rscript tests/data/cmscaller/ntp_cmscaller.R CMSCALLER ntp      # writes the reference
#
# CMScaller is not installed as a package (its Imports, Biobase and limma, are not needed by
# ntp()): its own R files ntp.R, corCosine.R, rutils.R and ematAdjust.R are sourced unchanged.
# "inputs" needs Biobase (Debian r-bioc-biobase) only to read the ExpressionSet
# data/crcTCGAsubset.rda; "ntp" needs base R only and reads the vendored TSV files.

args <- commandArgs(trailingOnly = TRUE)
stopifnot(length(args) == 2, args[2] %in% c("inputs", "ntp"))
cms <- args[1]
here <- "tests/data/cmscaller"

SEED <- 20L    # set.seed() of ntp(): its permutations are R's Mersenne-Twister draws
NPERM <- 1000L # ntp()'s default
NGENES <- 2000L

wtsv <- function(x, file) {
  con <- gzfile(file, "wb")  # gzip; the header line is the column names
  utils::write.table(x, con, sep = "\t", quote = FALSE, row.names = FALSE, na = "NA")
  close(con)
}

if (args[2] == "inputs") {
  suppressPackageStartupMessages(library(Biobase))
  load(file.path(cms, "data", "templates.CMS.rda"))
  load(file.path(cms, "data", "crcTCGAsubset.rda"))
  counts <- exprs(crcTCGAsubset)                      # 17045 Entrez ids x 92 samples, counts
  # the template: one row per (class, gene), as published in the package (529 rows; 47 genes
  # mark two classes and are listed twice)
  tpl <- data.frame(class = as.character(templates.CMS$class),
                    feature = templates.CMS$probe,      # Entrez id (the cohort's row names)
                    symbol = templates.CMS$symbol)
  utils::write.table(tpl, file.path(here, "templates_CMS.tsv"), sep = "\t", quote = FALSE,
                     row.names = FALSE)
  # the cohort: every template gene and other genes drawn at random, to NGENES genes, in the
  # package's row order (small enough to vendor; the pool of ntp() is these NGENES genes)
  intpl <- rownames(counts) %in% tpl$feature
  set.seed(1L)
  others <- sample(which(!intpl), NGENES - sum(intpl))
  keep <- sort(c(which(intpl), others))
  sub <- counts[keep, ]
  storage.mode(sub) <- "double"
  # missing values, to check that both drop such genes: one CMS1-only marker (TNNT1, Entrez
  # 7138) and the first two non-template genes get one missing cell each
  nt <- rownames(sub)[!rownames(sub) %in% tpl$feature][1:2]
  sub["7138", 5] <- NA
  sub[nt[1], 17] <- NA
  sub[nt[2], 90] <- NA
  wtsv(data.frame(feature = rownames(sub), sub, check.names = FALSE),
       file.path(here, "crc_tcga_counts.tsv.gz"))
  quit(save = "no")
}

# ---------------------------------------------------------------------------- reference
for (f in c("ntp.R", "corCosine.R", "rutils.R", "ematAdjust.R")) source(file.path(cms, "R", f))
tpl <- utils::read.delim(file.path(here, "templates_CMS.tsv"), colClasses = "character")
x <- utils::read.delim(gzfile(file.path(here, "crc_tcga_counts.tsv.gz")), check.names = FALSE,
                       colClasses = c("character", rep("numeric", 92)))
emat <- as.matrix(x[, -1])
rownames(emat) <- x$feature
# CMScaller's standardisation: log2, then each gene centred and scaled across the samples
# (ematAdjust with normMethod = NULL is t(scale(t(emat)))); a gene with a missing value stays
# missing and ntp() discards it
emat <- ematAdjust(log2(emat + 1), normMethod = NULL)
templates <- data.frame(probe = tpl$feature, class = factor(tpl$class))
res <- ntp(emat, templates, nPerm = NPERM, seed = SEED)

# the permutations ntp() drew: it calls set.seed(SEED) and then, per sample in column order,
# sample.int(P, S * nPerm, replace = TRUE) once (its only use of the RNG); replay them
keepP <- stats::complete.cases(emat)
pool <- emat[keepP, , drop = FALSE]
tk <- templates[templates$probe %in% rownames(pool), ]
P <- nrow(pool); S <- nrow(tk); N <- ncol(pool)
mm <- match(tk$probe, rownames(pool))
K <- nlevels(tk$class)
tmat <- sapply(seq_len(K), function(k) as.numeric(as.numeric(tk$class) == k))
set.seed(SEED)
fp <- data.frame(sample_id = colnames(pool), first = "", last = "", sum = 0)
pv <- numeric(N)
for (n in seq_len(N)) {
  idx <- sample.int(P, S * NPERM, replace = TRUE)
  fp$first[n] <- paste(head(idx, 10), collapse = ",")
  fp$last[n] <- paste(tail(idx, 10), collapse = ",")
  fp$sum[n] <- sum(as.numeric(idx))
  # ntp()'s p-value from these draws: they must be the ones it used
  obs <- max(corCosine(pool[mm, n, drop = FALSE], tmat))
  null <- apply(corCosine(matrix(pool[, n][idx], ncol = NPERM), tmat), 1, max)
  pv[n] <- rank(-c(obs, null))[1] / (NPERM + 1)
}
pv[pv < 1 / NPERM] <- 1 / NPERM
stopifnot(identical(pv, res$p.value))

out <- data.frame(sample_id = rownames(res), prediction = as.character(res$prediction))
for (k in levels(res$prediction)) out[[paste0("d.", k)]] <- sprintf("%.17g", res[[paste0("d.", k)]])
out$p.value <- sprintf("%.17g", res$p.value)
out$FDR <- sprintf("%.17g", res$FDR)
utils::write.table(out, file.path(here, "cmscaller_ntp.tsv"), sep = "\t", quote = FALSE,
                   row.names = FALSE)
fp$sum <- sprintf("%.0f", fp$sum)
utils::write.table(fp, file.path(here, "permutations_fingerprint.tsv"), sep = "\t",
                   quote = FALSE, row.names = FALSE)
cat(sprintf("P = %d genes (%d with a missing value dropped), S = %d template rows, N = %d\n",
            P, sum(!keepP), S, N))
print(table(res$prediction, res$FDR < 0.05))
