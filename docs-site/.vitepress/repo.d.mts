/** The repository's web address (`PARLEY_DOCS_REPO_URL`). */
export declare const repoUrl: string;
/** The branch repository links name (`PARLEY_DOCS_REPO_BRANCH`, default "main"). */
export declare const repoBranch: string;
